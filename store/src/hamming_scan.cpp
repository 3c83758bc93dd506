#include "hamming_scan.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryIVF.h>
#include <faiss/MetaIndexes.h>
#include <faiss/invlists/InvertedLists.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

namespace neardup::store::detail {
namespace {

constexpr int kBytes = 32;

#if defined(__x86_64__)
#define NEARDUP_POPCNT __attribute__((target("popcnt")))
#else
#define NEARDUP_POPCNT
#endif

NEARDUP_POPCNT inline int hamming(const std::uint8_t* a, const std::uint8_t* b) {
    std::uint64_t x[4], y[4];
    std::memcpy(x, a, kBytes);
    std::memcpy(y, b, kBytes);
    return __builtin_popcountll(x[0] ^ y[0]) + __builtin_popcountll(x[1] ^ y[1]) + __builtin_popcountll(x[2] ^ y[2]) +
           __builtin_popcountll(x[3] ^ y[3]);
}

// The k best (distance, id) seen so far, sorted; ties go to the smaller id.
struct TopK {
    int k;
    std::int32_t* d;
    std::int64_t* id;
    TopK(int k_, std::int32_t* d_, std::int64_t* id_) : k(k_), d(d_), id(id_) {
        std::fill(d, d + k, INT32_MAX);
        std::fill(id, id + k, -1);
    }
    void push(std::int32_t dist, std::int64_t label) {
        if (dist > d[k - 1] || (dist == d[k - 1] && (id[k - 1] < 0 ? false : label >= id[k - 1]))) return;
        int i = k - 1;
        while (i > 0 && (d[i - 1] > dist || (d[i - 1] == dist && id[i - 1] > label))) {
            d[i] = d[i - 1];
            id[i] = id[i - 1];
            --i;
        }
        d[i] = dist;
        id[i] = label;
    }
};

NEARDUP_POPCNT void scan_codes(const std::uint8_t* q, const std::uint8_t* codes, const faiss::IndexBinary::idx_t* ids, std::size_t n, TopK& top) {
    for (std::size_t j = 0; j < n; ++j) {
        const int dist = hamming(q, codes + j * kBytes);
        if (dist <= top.d[top.k - 1]) top.push(dist, ids ? ids[j] : static_cast<std::int64_t>(j));
    }
}

bool cpu_has_popcnt() {
#if defined(__x86_64__)
    static const bool has = __builtin_cpu_supports("popcnt");
    return has;
#else
    return false;
#endif
}

}  // namespace

bool fast_scan_supported(const faiss::IndexBinary& index) {
    if (!cpu_has_popcnt() || index.code_size != kBytes) return false;
    if (const auto* map = dynamic_cast<const faiss::IndexBinaryIDMap*>(&index))
        return dynamic_cast<const faiss::IndexBinaryFlat*>(map->index) != nullptr;
    if (const auto* ivf = dynamic_cast<const faiss::IndexBinaryIVF*>(&index))
        return dynamic_cast<const faiss::IndexBinaryFlat*>(ivf->quantizer) != nullptr;
    return false;
}

void fast_scan(const faiss::IndexBinary& index, std::int64_t n, const std::uint8_t* queries, int k, std::int32_t* distances,
               std::int64_t* labels) {
    const auto* map = dynamic_cast<const faiss::IndexBinaryIDMap*>(&index);
    const auto* ivf = dynamic_cast<const faiss::IndexBinaryIVF*>(&index);
    // Query rows in parallel (oneTBB: inside the server's worker arena this shares its threads).
    tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, n, 16), [&](const tbb::blocked_range<std::int64_t>& rows) {
        std::vector<std::int32_t> probe_d;
        std::vector<std::int64_t> probe_l;
        for (std::int64_t i = rows.begin(); i < rows.end(); ++i) {
            const std::uint8_t* q = queries + i * kBytes;
            TopK top(k, distances + i * k, labels + i * k);
            if (map) {
                const auto* flat = static_cast<const faiss::IndexBinaryFlat*>(map->index);
                scan_codes(q, flat->xb.data(), map->id_map.data(), static_cast<std::size_t>(flat->ntotal), top);
                continue;
            }
            // The nprobe nearest centroids, then their lists.
            const auto* quantizer = static_cast<const faiss::IndexBinaryFlat*>(ivf->quantizer);
            const int nprobe = static_cast<int>(std::min<std::size_t>(ivf->nprobe, ivf->nlist));
            probe_d.resize(nprobe);
            probe_l.resize(nprobe);
            TopK lists(nprobe, probe_d.data(), probe_l.data());
            scan_codes(q, quantizer->xb.data(), nullptr, static_cast<std::size_t>(quantizer->ntotal), lists);
            for (int p = 0; p < nprobe; ++p) {
                if (probe_l[p] < 0) continue;
                const auto list = static_cast<std::size_t>(probe_l[p]);
                const std::size_t size = ivf->invlists->list_size(list);
                if (size == 0) continue;
                faiss::InvertedLists::ScopedCodes codes(ivf->invlists, list);
                faiss::InvertedLists::ScopedIds ids(ivf->invlists, list);
                scan_codes(q, codes.get(), ids.get(), size, top);
            }
        }
    });
}

}  // namespace neardup::store::detail
