#include "hamming_scan.hpp"

#include <algorithm>
#include <vector>

#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryIVF.h>
#include <faiss/MetaIndexes.h>
#include <faiss/invlists/InvertedLists.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include "neardup/engine/hamming.hpp"
#include "neardup/engine/popcnt_clones.hpp"

namespace neardup::store::detail {

bool fast_scan_supported(const faiss::IndexBinary& index) {
    constexpr int kCode = static_cast<int>(kBinaryDescriptorBytes);
    // The code size is read from the inner index: FAISS 1.7's IndexBinaryIDMap leaves its own at 0 (and
    // writes that to disk), which kept every flat index (all PDQ search, and descriptor segments under
    // the inverted-file threshold) off this scan and on FAISS's OpenMP search.
    if (const auto* map = dynamic_cast<const faiss::IndexBinaryIDMap*>(&index)) {
        const auto* flat = dynamic_cast<const faiss::IndexBinaryFlat*>(map->index);
        return flat != nullptr && flat->code_size == kCode;
    }
    if (const auto* ivf = dynamic_cast<const faiss::IndexBinaryIVF*>(&index))
        return ivf->code_size == kCode && dynamic_cast<const faiss::IndexBinaryFlat*>(ivf->quantizer) != nullptr;
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
            const std::uint8_t* q = queries + i * kBinaryDescriptorBytes;
            NearestK nearest(k, distances + i * k, labels + i * k);
            if (map) {
                const auto* flat = static_cast<const faiss::IndexBinaryFlat*>(map->index);
                scan_hamming32(q, flat->xb.data(), map->id_map.data(), static_cast<std::size_t>(flat->ntotal), nearest);
                continue;
            }
            // The nprobe nearest centroids, then their lists.
            const auto* quantizer = static_cast<const faiss::IndexBinaryFlat*>(ivf->quantizer);
            const int nprobe = static_cast<int>(std::min<std::size_t>(ivf->nprobe, ivf->nlist));
            probe_d.resize(nprobe);
            probe_l.resize(nprobe);
            NearestK lists(nprobe, probe_d.data(), probe_l.data());
            scan_hamming32(q, quantizer->xb.data(), nullptr, static_cast<std::size_t>(quantizer->ntotal), lists);
            for (int p = 0; p < nprobe; ++p) {
                if (probe_l[p] < 0) continue;
                const auto list = static_cast<std::size_t>(probe_l[p]);
                const std::size_t size = ivf->invlists->list_size(list);
                if (size == 0) continue;
                faiss::InvertedLists::ScopedCodes codes(ivf->invlists, list);
                faiss::InvertedLists::ScopedIds ids(ivf->invlists, list);
                scan_hamming32(q, codes.get(), ids.get(), size, nearest);
            }
        }
    });
}

NEARDUP_POPCNT_CLONES
void distances_hamming8(std::uint64_t query, const std::uint64_t* codes, std::size_t n, std::uint8_t* out, int* histogram) {
    for (std::size_t j = 0; j < n; ++j) {
        const int d = __builtin_popcountll(query ^ codes[j]);
        out[j] = static_cast<std::uint8_t>(d);
        ++histogram[d];
    }
}

}  // namespace neardup::store::detail
