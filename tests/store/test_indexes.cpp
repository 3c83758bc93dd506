#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <random>
#include <set>

#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryIVF.h>
#include <faiss/MetaIndexes.h>
#include <faiss/index_io.h>

#include "neardup/store/descriptor_index.hpp"
#include "neardup/store/index_view.hpp"
#include "neardup/store/pdq_index.hpp"
#include "support/temp_dir.hpp"
#include "hamming_scan.hpp"
#include "hash_tables.hpp"

using namespace neardup;
using namespace neardup::store;

namespace {
Hash256 random_hash(std::mt19937_64& rng) {
    Hash256 h;
    for (auto& w : h.words) w = rng();
    return h;
}
Hash256 flip_bits(Hash256 h, int n, std::mt19937_64& rng) {
    for (int i = 0; i < n; ++i) {
        const int k = static_cast<int>(rng() % 256);
        h.words[k / 64] ^= std::uint64_t{1} << (k % 64);
    }
    return h;
}
LocalFeatures random_features(std::mt19937_64& rng, int n) {
    LocalFeatures f;
    f.kind = FeatureKind::orb;
    f.frame_width = f.frame_height = 512;
    for (int i = 0; i < n; ++i) f.keypoints.push_back({static_cast<std::uint16_t>(rng() % 8000), static_cast<std::uint16_t>(rng() % 8000), 0, 20});
    f.descriptors.resize(n * 32);
    for (auto& b : f.descriptors) b = static_cast<std::uint8_t>(rng());
    return f;
}
// Descriptors clustered as real ORB descriptors are: `count` random patterns, and copies of them with bits
// flipped.
struct Clusters {
    std::mt19937_64 rng;
    std::vector<std::array<std::uint8_t, 32>> patterns;
    Clusters(std::uint64_t seed, std::size_t count) : rng(seed), patterns(count) {
        for (auto& p : patterns)
            for (auto& b : p) b = static_cast<std::uint8_t>(rng());
    }
    std::array<std::uint8_t, 32> near(const std::array<std::uint8_t, 32>& p, int flips) {
        auto d = p;
        for (int i = 0; i < flips; ++i) d[rng() % 32] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        return d;
    }
};
// `count` references of `per_reference` descriptors each, every one a pattern of `clusters` with 8-47 bits
// flipped, at random positions.
std::vector<LocalFeatures> clustered_references(Clusters& clusters, int count, int per_reference) {
    auto& rng = clusters.rng;
    std::vector<LocalFeatures> refs;
    for (int ref = 0; ref < count; ++ref) {
        LocalFeatures f;
        f.kind = FeatureKind::orb;
        f.frame_width = f.frame_height = 512;
        for (int i = 0; i < per_reference; ++i) {
            f.keypoints.push_back({static_cast<std::uint16_t>(rng() % 8000), static_cast<std::uint16_t>(rng() % 8000), 0, 20});
            const auto d = clusters.near(clusters.patterns[rng() % clusters.patterns.size()], 8 + static_cast<int>(rng() % 40));
            f.descriptors.insert(f.descriptors.end(), d.begin(), d.end());
        }
        refs.push_back(std::move(f));
    }
    return refs;
}
// An index with `options` filed under `vocabulary` from the start, holding refs[i] as reference i + 1.
DescriptorIndex organised_index(const DescriptorIndexOptions& options, std::shared_ptr<const Vocabulary> vocabulary,
                                const std::vector<LocalFeatures>& refs) {
    DescriptorIndex index(options);
    index.organise(std::move(vocabulary));
    for (std::size_t i = 0; i < refs.size(); ++i) index.add(static_cast<std::int64_t>(i) + 1, refs[i]);
    return index;
}
}  // namespace

TEST_CASE("PDQ index search equals a brute-force scan, and survives save/load", "[store][pdq_index][oracle]") {
    std::mt19937_64 rng(5);
    std::vector<Hash256> refs;
    PdqIndex index;
    for (int i = 0; i < 500; ++i) {
        refs.push_back(random_hash(rng));
        index.add(1000 + i, refs.back());
    }
    test::TempDir dir;
    index.save(dir / "pdq.faiss");
    const PdqIndex loaded = PdqIndex::load(dir / "pdq.faiss");
    CHECK(loaded.size() == 500u);
    for (int trial = 0; trial < 20; ++trial) {
        const std::vector<Hash256> queries = {flip_bits(refs[trial * 7], 20, rng), random_hash(rng)};
        const auto got = loaded.search(queries, 3);
        // Oracle: for every query the 3 nearest by exhaustive scan; merged by best distance per id.
        std::map<std::int64_t, int> want;
        for (const auto& q : queries) {
            std::vector<std::pair<int, std::int64_t>> all;
            for (int i = 0; i < 500; ++i) all.emplace_back(hamming_distance(q, refs[i]), 1000 + i);
            std::sort(all.begin(), all.end());
            for (int j = 0; j < 3; ++j) {
                auto [it, fresh] = want.emplace(all[j].second, all[j].first);
                if (!fresh) it->second = std::min(it->second, all[j].first);
            }
        }
        // Ties at the third place may pick different ids; compare the distances, and the ids that are unique.
        REQUIRE(got.size() == want.size());
        CHECK(got.front().id == 1000 + trial * 7);
        CHECK(got.front().distance <= 20);
        std::vector<int> got_d, want_d;
        for (const auto& n : got) got_d.push_back(n.distance);
        for (const auto& [id, d] : want) want_d.push_back(d);
        std::sort(want_d.begin(), want_d.end());
        CHECK(got_d == want_d);
    }
}

TEST_CASE("multi-index hash tables find every code within 15, 31 or 47 bits (by the bits flipped per chunk), as a brute-force scan does", "[store][pdq_index][oracle]") {
    std::mt19937_64 rng(47);
    // Codes in families (a base and copies 0-70 bits off), as PDQ hashes of edited copies are, plus noise.
    constexpr std::size_t kCodes = 40'000;
    std::vector<std::uint8_t> codes;
    std::vector<Hash256> bases;
    for (std::size_t i = 0; i < kCodes; ++i) {
        Hash256 h = i % 4 == 0 || bases.empty() ? random_hash(rng) : flip_bits(bases[rng() % bases.size()], static_cast<int>(rng() % 71), rng);
        if (i % 4 == 0) bases.push_back(h);
        for (int w = 0; w < 4; ++w)
            for (int b = 0; b < 8; ++b) codes.push_back(static_cast<std::uint8_t>(h.words[w] >> (8 * b)));
    }
    PdqIndex index;
    for (std::size_t i = 0; i < kCodes; ++i) {
        Hash256 h;
        for (int w = 0; w < 4; ++w) {
            h.words[w] = 0;
            for (int b = 0; b < 8; ++b) h.words[w] |= std::uint64_t{codes[i * 32 + w * 8 + b]} << (8 * b);
        }
        index.add(static_cast<std::int64_t>(i) + 1, h);
    }
    const PdqIndex exact = index.clone();
    index.seal();
    REQUIRE(index.sealed_with_tables());
    REQUIRE_FALSE(exact.sealed_with_tables());
    using store::detail::HashTables;
    STATIC_REQUIRE(HashTables::flips_for(0) == 0);
    STATIC_REQUIRE(HashTables::flips_for(15) == 0);
    STATIC_REQUIRE(HashTables::flips_for(16) == 1);
    STATIC_REQUIRE(HashTables::flips_for(31) == 1);
    STATIC_REQUIRE(HashTables::flips_for(32) == 2);
    STATIC_REQUIRE(HashTables::flips_for(90) == 2);
    constexpr int k = 8;
    // Exact to 47 bits (the default lookup), and the cheaper lookups exact to 31 and 15.
    int missed_beyond_radius = 0;
    for (int trial = 0; trial < 90; ++trial) {
        const int radius = trial % 3 == 0 ? HashTables::kExactRadius : trial % 3 == 1 ? HashTables::exact_radius(1) : HashTables::exact_radius(0);
        const Hash256 q = flip_bits(bases[rng() % bases.size()], static_cast<int>(rng() % 40), rng);
        const auto got = index.search(std::vector<Hash256>{q}, k, -1, nullptr, radius);
        const auto want = exact.search(std::vector<Hash256>{q}, k);
        // Every neighbour within the radius of the exact k nearest is among the tables' answer at its
        // distance, and the tables never report a distance that is not the true one.
        std::map<std::int64_t, int> got_map;
        for (const auto& n : got) got_map[n.id] = n.distance;
        for (const auto& n : want) {
            if (n.distance > radius) {
                missed_beyond_radius += n.distance <= HashTables::kExactRadius && !got_map.contains(n.id) ? 1 : 0;
                continue;
            }
            INFO("trial " << trial << " radius " << radius << " id " << n.id << " distance " << n.distance);
            REQUIRE(got_map.contains(n.id));
            CHECK(got_map[n.id] == n.distance);
        }
        for (const auto& n : got) {
            Hash256 h;
            for (int w = 0; w < 4; ++w) {
                h.words[w] = 0;
                for (int b = 0; b < 8; ++b) h.words[w] |= std::uint64_t{codes[(n.id - 1) * 32 + w * 8 + b]} << (8 * b);
            }
            CHECK(hamming_distance(q, h) == n.distance);
        }
        CHECK(got_map.size() == got.size());  // each id once
    }
    // The cheaper lookups are cheaper for a reason: some neighbours beyond their radius (within 47) are missed.
    CHECK(missed_beyond_radius > 0);
    // An add drops the tables (the index is no longer complete).
    index.add(kCodes + 1, random_hash(rng));
    CHECK_FALSE(index.sealed_with_tables());
    // Below kTableRows, seal keeps the exact scan.
    PdqIndex small;
    const Hash256 one = random_hash(rng);
    small.add(1, one);
    small.seal();
    CHECK_FALSE(small.sealed_with_tables());
    // ... unless told to build them from fewer rows; then they answer as the scan did.
    small.seal(1);
    REQUIRE(small.sealed_with_tables());
    const auto found = small.search(std::vector<Hash256>{flip_bits(one, 5, rng)}, 1);
    REQUIRE(found.size() == 1);
    CHECK(found.front().id == 1);
    CHECK(found.front().distance == 5);
}

TEST_CASE("an inverted file puts each descriptor in its nearest list: one probe finds it", "[store][descriptor_index]") {
    std::mt19937_64 rng(21);
    DescriptorIndexOptions options;
    options.per_reference = 100;
    options.neighbours = 1;
    options.ivf_threshold = 1000;
    options.nprobe = 1;  // only the query's nearest word's list is scanned, in its nearest group
    options.probe_groups = 1;
    options.max_distance = 256;
    DescriptorIndex ivf(options);
    std::vector<LocalFeatures> refs;
    for (int i = 0; i < 40; ++i) {
        refs.push_back(random_features(rng, 100));
        ivf.add(i + 1, refs.back());
    }
    ivf.optimise();
    for (int i = 0; i < 40; i += 7) {
        DescriptorNeighbours nb;
        REQUIRE(ivf.search(refs[i], nb));
        for (std::size_t row = 0; row < nb.rows; ++row) {
            INFO("reference " << i + 1 << " descriptor " << row);
            CHECK(nb.distances[row] == 0);
            CHECK(nb.labels[row] == ((static_cast<std::int64_t>(i + 1) << DescriptorIndex::kKeypointBits) | static_cast<std::int64_t>(row)));
        }
    }
}

TEST_CASE("descriptor votes equal a brute-force count, flat and inverted-file alike", "[store][descriptor_index][oracle]") {
    std::mt19937_64 rng(9);
    DescriptorIndexOptions options;
    options.per_reference = 64;
    options.neighbours = 3;
    options.max_distance = 60;
    options.ratio = 0.85;
    std::vector<LocalFeatures> refs;
    DescriptorIndex index(options);
    for (int i = 0; i < 60; ++i) {
        refs.push_back(random_features(rng, 80));
        index.add(i + 1, refs.back());
    }
    CHECK(index.size() == 60u * 64u);  // capped per reference
    // A query made of noisy copies of 30 descriptors of reference 7 and 10 of reference 12, plus noise.
    LocalFeatures query = random_features(rng, 50);
    for (int i = 0; i < 40; ++i) {
        const auto& src = i < 30 ? refs[6] : refs[11];
        std::copy_n(src.descriptors.data() + (i % 30) * 32, 32, query.descriptors.data() + i * 32);
        query.descriptors[i * 32 + 5] ^= 0x11;  // 2 bits off
    }
    auto naive = [&](const LocalFeatures& q) {
        std::map<std::int64_t, int> votes;
        for (std::size_t qi = 0; qi < q.size(); ++qi) {
            std::vector<std::pair<int, std::int64_t>> all;
            for (std::size_t r = 0; r < refs.size(); ++r)
                for (int k = 0; k < 64; ++k) {
                    int d = 0;
                    for (int b = 0; b < 32; ++b) d += __builtin_popcount(q.descriptors[qi * 32 + b] ^ refs[r].descriptors[k * 32 + b]);
                    all.emplace_back(d, static_cast<std::int64_t>(r + 1));
                }
            std::partial_sort(all.begin(), all.begin() + 3, all.end());
            // Votes within 60 bits and within 0.85 of the third (k-th) neighbour's distance.
            const double limit = std::min(60.0, 0.85 * all[2].first);
            std::vector<std::int64_t> seen;
            for (int j = 0; j < 3; ++j)
                if (all[j].first <= limit && std::find(seen.begin(), seen.end(), all[j].second) == seen.end()) {
                    seen.push_back(all[j].second);
                    ++votes[all[j].second];
                }
        }
        return votes;
    };
    const auto want = naive(query);
    auto check = [&](const DescriptorIndex& idx) {
        const auto got = idx.vote({&query}, 100);
        REQUIRE(!got.empty());
        CHECK(got[0].id == 7);
        CHECK(got[0].votes == want.at(7));
        std::map<std::int64_t, int> got_map;
        for (const auto& v : got) got_map[v.id] = v.votes;
        CHECK(got_map == want);
    };
    check(index);
    // Split over segments, the votes are those of one index: the k nearest are merged across segments.
    {
        IndexView view;
        for (int part = 0; part < 3; ++part) {
            auto segment = std::make_shared<Segment>(options);
            for (int i = part * 20; i < part * 20 + 20; ++i) segment->descriptors.add(i + 1, refs[i]);
            view.segments.push_back(std::move(segment));
        }
        const auto got = view.vote({&query}, options, 100);
        std::map<std::int64_t, int> got_map;
        for (const auto& v : got) got_map[v.id] = v.votes;
        CHECK(got_map == want);
        // A tombstone removes the reference's votes and nothing else.
        view.inactive = std::make_shared<std::unordered_set<std::int64_t>>(std::unordered_set<std::int64_t>{7});
        auto without = want;
        without.erase(7);
        got_map.clear();
        for (const auto& v : view.vote({&query}, options, 100)) got_map[v.id] = v.votes;
        CHECK(got_map == without);
    }
    // Inverted file over a vocabulary probing every word is exact too: built at once, filed as it grows (one
    // by one and many at once), cloned, after a save and load with its vocabulary attached, and as segments
    // sharing one vocabulary. A shortlist as long as the index keeps every entry, so its votes are exact as
    // well; this holds only while each list's short codes follow its entries, however the index was filled.
    for (const int shortlist : {0, 60 * 64}) {
        INFO("shortlist " << shortlist);
        DescriptorIndexOptions ivf_options = options;
        ivf_options.ivf_threshold = 1000;
        ivf_options.nprobe = 1 << 20;
        ivf_options.probe_groups = 1 << 20;
        ivf_options.shortlist = shortlist;
        DescriptorIndex ivf(ivf_options);
        for (int i = 0; i < 60; ++i) ivf.add(i + 1, refs[i]);
        ivf.optimise();
        REQUIRE(ivf.vocabulary() != nullptr);
        check(ivf);
        DescriptorIndex grown(ivf_options);
        grown.organise(ivf.vocabulary());
        for (int i = 0; i < 30; ++i) grown.add(i + 1, refs[i]);
        std::vector<std::int64_t> ids;
        std::vector<const LocalFeatures*> many;
        for (int i = 30; i < 60; ++i) {
            ids.push_back(i + 1);
            many.push_back(&refs[i]);
        }
        grown.add_many(ids, many);
        check(grown);
        check(grown.clone());
        test::TempDir dir;
        ivf.save(dir / "d.faiss");
        auto loaded = DescriptorIndex::load(dir / "d.faiss", ivf_options);
        std::vector<std::shared_ptr<const Vocabulary>> known{ivf.vocabulary()};
        loaded.attach_vocabulary(ivf.vocabulary()->groups(), known);
        CHECK(loaded.vocabulary() == ivf.vocabulary());  // the same words: shared, not a second copy
        check(loaded);
        IndexView view;
        for (int part = 0; part < 3; ++part) {
            auto segment = std::make_shared<Segment>(ivf_options);
            segment->descriptors.organise(ivf.vocabulary());
            for (int i = part * 20; i < part * 20 + 20; ++i) segment->descriptors.add(i + 1, refs[i]);
            view.segments.push_back(std::move(segment));
        }
        std::map<std::int64_t, int> got_map;
        for (const auto& v : view.vote({&query}, ivf_options, 100)) got_map[v.id] = v.votes;
        CHECK(got_map == want);
    }
}

TEST_CASE("a shortlist on 64-bit short codes keeps the near neighbours of the full walk", "[store][descriptor_index][oracle]") {
    // Clustered descriptors as in real photos: a query that copies an indexed descriptor (within ORB's own
    // noise) must get the same nearest neighbours from a shortlist of 64 as from the walk measuring every
    // entry on 256 bits; the shortest shortlist, k = 8 entries, must not (so the check can fail).
    Clusters clusters(13, 200);
    auto& rng = clusters.rng;
    const auto near = [&](const std::array<std::uint8_t, 32>& p, int flips) { return clusters.near(p, flips); };
    DescriptorIndexOptions options;
    options.ivf_threshold = 10'000;
    const std::vector<LocalFeatures> refs = clustered_references(clusters, 160, 128);
    DescriptorIndex full(options);
    for (int i = 0; i < 160; ++i) full.add(i + 1, refs[i]);
    full.optimise();
    REQUIRE(full.vocabulary() != nullptr);
    const auto with_shortlist = [&](int shortlist) {
        DescriptorIndexOptions o = options;
        o.shortlist = shortlist;
        return organised_index(o, full.vocabulary(), refs);
    };
    // Queries: indexed descriptors with up to 12 bits flipped.
    LocalFeatures query;
    query.kind = FeatureKind::orb;
    query.frame_width = query.frame_height = 512;
    for (int i = 0; i < 256; ++i) {
        query.keypoints.push_back({0, 0, 0, 20});
        const auto& r = refs[rng() % refs.size()];
        std::array<std::uint8_t, 32> d;
        std::copy_n(r.descriptors.data() + (rng() % 128) * 32, 32, d.begin());
        d = near(d, static_cast<int>(rng() % 13));
        query.descriptors.insert(query.descriptors.end(), d.begin(), d.end());
    }
    DescriptorNeighbours want;
    REQUIRE(full.search(query, want));
    // Neighbours of the full walk within 24 bits (a copy's, as votes count them) that `index` does not return.
    const auto missed = [&](const DescriptorIndex& index) {
        DescriptorNeighbours got;
        REQUIRE(index.search(query, got));
        REQUIRE(got.rows == want.rows);
        int missing = 0, near_ones = 0;
        for (std::size_t i = 0; i < want.rows; ++i)
            for (int j = 0; j < want.k; ++j) {
                if (want.distances[i * want.k + j] > 24) continue;
                ++near_ones;
                const auto* begin = got.labels.data() + i * want.k;
                missing += std::find(begin, begin + want.k, want.labels[i * want.k + j]) == begin + want.k;
            }
        REQUIRE(near_ones > 256);
        return missing;
    };
    CHECK(missed(with_shortlist(64)) == 0);
    CHECK(missed(with_shortlist(8)) > 0);
}

TEST_CASE("an entry budget scans the probed lists nearest word first until it is spent, as a brute-force walk does",
          "[store][descriptor_index][oracle]") {
    Clusters clusters(21, 200);
    auto& rng = clusters.rng;
    DescriptorIndexOptions options;
    options.ivf_threshold = 10'000;
    const std::vector<LocalFeatures> refs = clustered_references(clusters, 160, options.per_reference);
    DescriptorIndex full(options);
    for (int i = 0; i < 160; ++i) full.add(i + 1, refs[i]);
    full.optimise();
    REQUIRE(full.vocabulary() != nullptr);
    const Vocabulary& vocabulary = *full.vocabulary();
    REQUIRE(vocabulary.size() > static_cast<std::size_t>(options.nprobe));
    // The word each indexed descriptor is filed under, and how many entries each word's list holds.
    std::vector<std::int64_t> word_of(160 * options.per_reference);
    std::map<std::int64_t, std::size_t> list_size;
    for (std::size_t e = 0; e < word_of.size(); ++e) {
        word_of[e] = vocabulary.assign(refs[e / options.per_reference].descriptors.data() + (e % options.per_reference) * 32);
        ++list_size[word_of[e]];
    }
    LocalFeatures query;
    query.kind = FeatureKind::orb;
    query.frame_width = query.frame_height = 512;
    for (int i = 0; i < 96; ++i) {
        query.keypoints.push_back({0, 0, 0, 20});
        const auto d = clusters.near(clusters.patterns[rng() % clusters.patterns.size()], static_cast<int>(rng() % 30));
        query.descriptors.insert(query.descriptors.end(), d.begin(), d.end());
    }
    // Also with a shortlist longer than the index (every entry measured on all 256 bits): its walk must
    // keep to the same lists.
    for (const int shortlist : {0, 1 << 20}) {
        for (const int budget : {0, 200, 1000}) {
            INFO("max_codes " << budget << " shortlist " << shortlist);
            DescriptorIndexOptions o = options;
            o.max_codes = budget;
            o.shortlist = shortlist;
            const DescriptorIndex index = organised_index(o, full.vocabulary(), refs);
            DescriptorNeighbours got;
            REQUIRE(index.search(query, got));
            REQUIRE(got.rows == query.size());
            int cut_short = 0;
            for (std::size_t row = 0; row < got.rows; ++row) {
                const std::uint8_t* q = query.descriptors.data() + row * 32;
                // The walk: words nearest first; each next one only while fewer than the budget were read.
                std::vector<std::int64_t> words(o.nprobe);
                vocabulary.probe(q, o.probe_groups, o.nprobe, words.data(), o.probe_margin);
                std::set<std::int64_t> scanned;
                std::size_t read = 0;
                for (int p = 0; p < o.nprobe; ++p) {
                    if (p > 0 && budget > 0 && read >= static_cast<std::size_t>(budget)) break;
                    if (words[p] < 0) continue;
                    scanned.insert(words[p]);
                    read += list_size[words[p]];
                }
                cut_short += scanned.size() < static_cast<std::size_t>(o.nprobe);
                std::vector<std::int32_t> want;
                for (std::size_t e = 0; e < word_of.size(); ++e) {
                    if (!scanned.count(word_of[e])) continue;
                    const std::uint8_t* r = refs[e / o.per_reference].descriptors.data() + (e % o.per_reference) * 32;
                    int d = 0;
                    for (int b = 0; b < 32; ++b) d += __builtin_popcount(q[b] ^ r[b]);
                    want.push_back(d);
                }
                std::sort(want.begin(), want.end());
                want.resize(static_cast<std::size_t>(got.k), DescriptorNeighbours::kEmpty);
                const std::vector<std::int32_t> have(got.distances.begin() + static_cast<std::ptrdiff_t>(row * got.k),
                                                     got.distances.begin() + static_cast<std::ptrdiff_t>((row + 1) * got.k));
                INFO("row " << row);
                REQUIRE(have == want);
            }
            // Without a budget every probe is scanned; a small one stops most walks early.
            if (budget == 0) CHECK(cut_short == 0);
            if (budget == 200) CHECK(cut_short > static_cast<int>(got.rows) / 2);
        }
    }
}

TEST_CASE("the POPCNT scan gives FAISS's own answers at the production probe count", "[store][descriptor_index][oracle]") {
    // Descriptors clustered as real ORB descriptors are (copies of a few hundred patterns, a few bits apart),
    // enough of them for the inverted file, searched with the production probe count. The scan must pick the
    // same lists as FAISS's quantizer and the same neighbours in them.
    Clusters clusters(11, 300);
    auto& rng = clusters.rng;
    const auto& patterns = clusters.patterns;
    const auto near = [&](const std::array<std::uint8_t, 32>& p, int flips) { return clusters.near(p, flips); };
    DescriptorIndexOptions options;  // production nprobe and list count
    options.ivf_threshold = 10'000;
    DescriptorIndex index(options);
    for (int ref = 1; ref <= 120; ++ref) {
        LocalFeatures f;
        f.kind = FeatureKind::orb;
        f.frame_width = f.frame_height = 512;
        for (int i = 0; i < 128; ++i) {
            f.keypoints.push_back({static_cast<std::uint16_t>(rng() % 8000), static_cast<std::uint16_t>(rng() % 8000), 0, 20});
            const auto d = near(patterns[rng() % patterns.size()], static_cast<int>(rng() % 24));
            f.descriptors.insert(f.descriptors.end(), d.begin(), d.end());
        }
        index.add(ref, f);
    }
    index.optimise();
    test::TempDir dir;
    index.save(dir / "ivf.faiss");
    std::unique_ptr<faiss::IndexBinary> raw(faiss::read_index_binary((dir / "ivf.faiss").c_str()));
    auto* ivf = dynamic_cast<faiss::IndexBinaryIVF*>(raw.get());
    REQUIRE(ivf != nullptr);
    ivf->nprobe = static_cast<std::size_t>(options.nprobe);
    REQUIRE(ivf->nlist > 100u);
    REQUIRE(store::detail::fast_scan_supported(*raw));
    constexpr int kQueries = 400, k = 8;
    std::vector<std::uint8_t> queries;
    for (int q = 0; q < kQueries; ++q) {
        const auto d = q % 4 == 3 ? near(patterns[0], 128) : near(patterns[rng() % patterns.size()], static_cast<int>(rng() % 40));
        queries.insert(queries.end(), d.begin(), d.end());
    }
    std::vector<std::int32_t> want_d(kQueries * k), got_d(kQueries * k);
    std::vector<faiss::IndexBinary::idx_t> want_l(kQueries * k);
    std::vector<std::int64_t> got_l(kQueries * k);
    raw->search(kQueries, queries.data(), k, want_d.data(), want_l.data());
    store::detail::fast_scan(*raw, kQueries, queries.data(), k, got_d.data(), got_l.data());
    int same_lists = 0;
    for (int q = 0; q < kQueries; ++q) {
        INFO("query " << q);
        // Distances must agree exactly; ids may differ only among neighbours at one distance (FAISS does not
        // order ties by id).
        std::map<std::int32_t, std::multiset<std::int64_t>> want_by_d, got_by_d;
        for (int j = 0; j < k; ++j) {
            CHECK(got_d[q * k + j] == (want_l[q * k + j] < 0 ? std::numeric_limits<std::int32_t>::max() : want_d[q * k + j]));
            if (want_l[q * k + j] >= 0) want_by_d[want_d[q * k + j]].insert(want_l[q * k + j]);
            if (got_l[q * k + j] >= 0) got_by_d[got_d[q * k + j]].insert(got_l[q * k + j]);
        }
        // The last distance may be cut differently among ties; every smaller one must hold the same ids.
        if (!want_by_d.empty()) want_by_d.erase(std::prev(want_by_d.end()));
        if (!got_by_d.empty()) got_by_d.erase(std::prev(got_by_d.end()));
        if (want_by_d == got_by_d) ++same_lists;
    }
    CHECK(same_lists == kQueries);
}

TEST_CASE("flat PDQ and descriptor indexes, new or loaded, are searched by the POPCNT scan", "[store][descriptor_index][pdq_index]") {
    // FAISS 1.7's IndexBinaryIDMap reports code_size 0; the scan must still take these indexes, or every
    // PDQ lookup and every small segment runs FAISS's OpenMP search (the small-index cliff).
    const auto flat_map = [] {
        auto map = std::make_unique<faiss::IndexBinaryIDMap>(new faiss::IndexBinaryFlat(256));
        map->own_fields = true;
        return map;
    };
    const auto fresh = flat_map();
    CHECK(store::detail::fast_scan_supported(*fresh));
    test::TempDir dir;
    faiss::write_index_binary(fresh.get(), (dir / "flat.faiss").c_str());
    std::unique_ptr<faiss::IndexBinary> loaded(faiss::read_index_binary((dir / "flat.faiss").c_str()));
    CHECK(store::detail::fast_scan_supported(*loaded));
    // Other code sizes are not for this scan.
    auto wide = std::make_unique<faiss::IndexBinaryIDMap>(new faiss::IndexBinaryFlat(512));
    wide->own_fields = true;
    CHECK_FALSE(store::detail::fast_scan_supported(*wide));
}
