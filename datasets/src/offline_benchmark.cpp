#include "neardup/datasets/offline_benchmark.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <tbb/parallel_for.h>

#include "neardup/engine/local_features.hpp"

namespace neardup::datasets {
namespace {

// Bump when the output for the same inputs changes (edits, layout, ids), so cached builds are redone.
constexpr int kFormatVersion = 6;
constexpr int kReferenceJpegQuality = 92;
constexpr int kContactSheetPerFamily = 3;
constexpr int kContactSheetTile = 220;

std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 0xcbf29ce484222325ull) {
    for (const unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

std::string id_number(int n, int width) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*d", width, n);
    return buf;
}

void write_file(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::size_t count_files(const std::filesystem::path& dir) {
    if (!std::filesystem::is_directory(dir)) return 0;
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()));
}

std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

// A source as every build sees it: seeded by its path, so a cut-out gets the same studio background in every
// build, in every role and in the review sheets.
LoadedSource load_seeded(const SourceEntry& entry) { return load_source(entry, fnv1a(entry.path.string())); }

// distractors/<reference id>_c<nn>.jpg: `distractor_copies` edited copies of every distractor reference, each
// with a primary edit family in turn; tiles and backgrounds come from the first distractors, never from a photo
// a query shows. Returns the number written.
template <class Say>
std::size_t write_distractor_copies(const BenchmarkPlan& plan, const BenchmarkConfig& config, const std::filesystem::path& out,
                                    const Say& say) {
    std::vector<const PlannedReference*> distractors;
    for (const auto& r : plan.references)
        if (!r.has_queries) distractors.push_back(&r);
    const std::size_t copies = static_cast<std::size_t>(config.distractor_copies), total = distractors.size() * copies;
    std::filesystem::create_directories(out / "distractors");
    if (total == 0) return 0;
    std::vector<cv::Mat> tiles;
    for (std::size_t i = 0; i < distractors.size() && i < static_cast<std::size_t>(std::max(2, config.tile_pool)); ++i)
        tiles.push_back(load_seeded(plan.sources[distractors[i]->source]).bgr);
    say("writing " + std::to_string(total) + " distractor copies (" + std::to_string(copies) + " of each of " +
        std::to_string(distractors.size()) + " distractors)");
    std::atomic<std::size_t> done{0};
    tbb::parallel_for(std::size_t{0}, distractors.size(), [&](std::size_t d) {
        const PlannedReference& r = *distractors[d];
        const LoadedSource src = load_seeded(plan.sources[r.source]);
        for (std::size_t c = 0; c < copies; ++c) {
            Rng rng(splitmix64(config.seed ^ splitmix64(0xD15C0000ull + d * copies + c)));
            const EditFamily family = kEditFamilies[(d * copies + c) % kEditFamilies.size()];
            const EditedQuery edited = make_query(src.bgr, family, rng, EditInputs{src.alpha, tiles}, 3);
            write_file(out / "distractors" / (r.id + "_c" + id_number(static_cast<int>(c + 1), 2) + ".jpg"), edited.jpeg);
        }
        if (const std::size_t n = done.fetch_add(copies) + copies; n % 2000 < copies) say("  " + std::to_string(n) + " distractor copies");
    });
    return total;
}

}  // namespace

cv::Mat make_contact_sheet(const std::vector<std::pair<std::string, cv::Mat>>& tiles) {
    const int cols = 8;
    const int label_h = 22;
    const int rows = static_cast<int>((tiles.size() + cols - 1) / cols);
    cv::Mat sheet(std::max(1, rows) * (kContactSheetTile + label_h), cols * kContactSheetTile, CV_8UC3, cv::Scalar(255, 255, 255));
    for (std::size_t i = 0; i < tiles.size(); ++i) {
        const int x = static_cast<int>(i % cols) * kContactSheetTile, y = static_cast<int>(i / cols) * (kContactSheetTile + label_h);
        const cv::Mat& img = tiles[i].second;
        const double s = std::min(static_cast<double>(kContactSheetTile - 6) / img.cols, static_cast<double>(kContactSheetTile - 6) / img.rows);
        cv::Mat small;
        cv::resize(img, small, cv::Size(std::max(1, static_cast<int>(img.cols * s)), std::max(1, static_cast<int>(img.rows * s))), 0, 0, cv::INTER_AREA);
        small.copyTo(sheet(cv::Rect(x + (kContactSheetTile - small.cols) / 2, y + (kContactSheetTile - small.rows) / 2, small.cols, small.rows)));
        cv::putText(sheet, tiles[i].first, {x + 4, y + kContactSheetTile + 15}, cv::FONT_HERSHEY_SIMPLEX, 0.42, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    }
    return sheet;
}

std::string_view to_string(Split split) { return split == Split::train ? "train" : "test"; }

Split split_of(std::string_view key, std::uint64_t seed) {
    return (splitmix64(seed ^ fnv1a(key)) & 1) ? Split::test : Split::train;
}

BenchmarkPlan plan_benchmark(const std::vector<SourceEntry>& kept, const BenchmarkConfig& config) {
    BenchmarkPlan plan;
    plan.sources = kept;
    std::map<std::string, int> counters;
    for (const auto& e : kept) plan.source_ids.push_back(e.prefix + "_" + id_number(++counters[e.prefix], 4));

    std::mt19937_64 rng(config.seed);
    // Groups: the first member is indexed, the others become hard-negative queries.
    std::map<std::string, std::vector<std::size_t>> groups;
    for (std::size_t i = 0; i < kept.size(); ++i)
        if (!kept[i].group.empty()) groups[kept[i].group].push_back(i);
    std::vector<std::size_t> group_refs, hard_negative_sources;
    std::map<std::size_t, std::size_t> related;  // hard-negative source -> indexed member
    for (const auto& [name, members] : groups) {
        if (members.size() < 2) continue;
        group_refs.push_back(members[0]);
        for (std::size_t k = 1; k < members.size(); ++k) {
            hard_negative_sources.push_back(members[k]);
            related[members[k]] = members[0];
        }
    }
    std::vector<std::size_t> distractors, usable;
    for (std::size_t i = 0; i < kept.size(); ++i) {
        if (related.count(i) || std::find(group_refs.begin(), group_refs.end(), i) != group_refs.end()) continue;
        (kept[i].role == SourceRole::distractor ? distractors : usable).push_back(i);
    }
    std::shuffle(usable.begin(), usable.end(), rng);
    std::shuffle(distractors.begin(), distractors.end(), rng);
    if (usable.size() + group_refs.size() < 6)
        throw std::runtime_error("plan_benchmark: " + std::to_string(usable.size() + group_refs.size()) +
                                 " usable photos after screening; at least 6 are needed");

    // Tile pool first, then the in-index sources (A), the not-indexed sources (B), the rest indexed as distractors.
    const std::size_t pool = std::clamp<std::size_t>(static_cast<std::size_t>(config.tile_pool), 2, usable.size() / 8 + 2);
    plan.tile_pool.assign(usable.begin(), usable.begin() + static_cast<std::ptrdiff_t>(pool));
    const std::size_t m = usable.size() - pool;
    const int hn_queries = static_cast<int>(hard_negative_sources.size()) * std::max(1, config.hard_negative_variants);
    const int edit_queries = std::max(static_cast<int>(kEditFamilies.size()), config.target_queries - hn_queries);
    const int qa = edit_queries / 2, qb = edit_queries - qa;
    // Half the photos are indexed originals with queries and 35 % unindexed originals; the rest are indexed
    // distractors. Photos are the scarce input (the Debian sources give ~630), so a source carries several
    // queries; indexed originals get the larger share because they are what recall is measured on.
    const std::size_t a_count = std::min<std::size_t>(static_cast<std::size_t>(qa), std::max<std::size_t>(1, m / 2));
    const std::size_t b_count = std::min<std::size_t>(static_cast<std::size_t>(qb), std::max<std::size_t>(1, m * 7 / 20));
    std::vector<std::size_t> a(usable.begin() + static_cast<std::ptrdiff_t>(pool), usable.begin() + static_cast<std::ptrdiff_t>(pool + a_count));
    std::vector<std::size_t> b(usable.begin() + static_cast<std::ptrdiff_t>(pool + a_count),
                               usable.begin() + static_cast<std::ptrdiff_t>(std::min(usable.size(), pool + a_count + b_count)));
    for (std::size_t k = pool + a_count + b.size(); k < usable.size(); ++k) distractors.push_back(usable[k]);
    // Indexed group members also get ordinary edited queries.
    a.insert(a.end(), group_refs.begin(), group_refs.end());

    // References: A (with queries), then distractors up to the target.
    std::set<std::size_t> in_a(a.begin(), a.end());
    for (const std::size_t i : a) plan.references.push_back({plan.source_ids[i], i, true});
    for (const std::size_t i : distractors) {
        if (static_cast<int>(plan.references.size()) >= config.target_references) break;
        plan.references.push_back({plan.source_ids[i], i, false});
    }
    std::sort(plan.references.begin(), plan.references.end(), [](const auto& x, const auto& y) { return x.id < y.id; });
    // One in six references with queries is archived as a thumbnail (not the indexed member of a group, whose
    // hard negatives compare against it at full size).
    for (auto& r : plan.references)
        r.thumbnail = r.has_queries && kept[r.source].group.empty() && splitmix64(config.seed ^ fnv1a("thumbnail:" + r.id)) % 6 == 0;

    // Families: round robin over the edit families, shuffled, so each gets an equal share.
    std::vector<EditFamily> families;
    for (int k = 0; k < edit_queries; ++k) families.push_back(kEditFamilies[static_cast<std::size_t>(k) % kEditFamilies.size()]);
    std::shuffle(families.begin(), families.end(), rng);
    std::vector<PlannedQuery> queries;
    for (int k = 0; k < edit_queries; ++k) {
        const bool indexed = k < qa;
        const auto& side = indexed ? a : (b.empty() ? a : b);
        const std::size_t src = side[static_cast<std::size_t>(indexed ? k : k - qa) % side.size()];
        PlannedQuery q;
        q.source = src;
        q.source_id = plan.source_ids[src];
        q.in_index = in_a.count(src) > 0;
        q.family = families[static_cast<std::size_t>(k)];
        q.reference_id = q.in_index ? q.source_id : "";
        queries.push_back(q);
    }
    for (const std::size_t src : hard_negative_sources)
        for (int v = 0; v < std::max(1, config.hard_negative_variants); ++v) {
            PlannedQuery q;
            q.source = src;
            q.source_id = plan.source_ids[src];
            q.family = EditFamily::hard_negative;
            q.related_reference_id = plan.source_ids[related.at(src)];
            queries.push_back(q);
        }
    // Query ids in shuffled order, so an id says nothing about its kind.
    std::shuffle(queries.begin(), queries.end(), rng);
    for (std::size_t k = 0; k < queries.size(); ++k) {
        const SourceEntry& source = kept[queries[k].source];
        queries[k].split = split_of(source.group.empty() ? queries[k].source_id : "group:" + source.group, config.seed);
        queries[k].id = "q" + id_number(static_cast<int>(k + 1), 5);
        queries[k].seed = splitmix64(config.seed ^ splitmix64(k + 1));
    }
    plan.queries = std::move(queries);
    return plan;
}

std::string benchmark_config_key(const std::vector<SourceEntry>& entries, const BenchmarkConfig& config) {
    std::string canon = "v" + std::to_string(kFormatVersion) + ";seed=" + std::to_string(config.seed) + ";q=" +
                        std::to_string(config.target_queries) + ";r=" + std::to_string(config.target_references) +
                        ";hn=" + std::to_string(config.hard_negative_variants) + ";pool=" + std::to_string(config.tile_pool) +
                        ";dc=" + std::to_string(config.distractor_copies);
    for (const auto& e : entries) {
        std::error_code ec;
        const auto size = std::filesystem::file_size(e.path, ec);
        canon += "\n" + e.package + "|" + e.version + "|" + e.prefix + "|" + std::string(to_string(e.role)) + "|" + e.group +
                 "|" + e.path.string() + "|" + std::to_string(ec ? 0 : size);
    }
    char buf[20];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a(canon)));
    return buf;
}

BuildSummary build_offline_benchmark(const std::vector<SourceEntry>& entries, const BenchmarkConfig& config,
                                     const std::filesystem::path& out, const std::function<void(const std::string&)>& log) {
    namespace fs = std::filesystem;
    const auto say = [&](const std::string& line) { if (log) log(line); };
    const auto start = std::chrono::steady_clock::now();
    BuildSummary summary;
    summary.listed = entries.size();
    const std::string key = benchmark_config_key(entries, config);

    // Cached: same key, and as many files as the manifest promises.
    if (std::ifstream in(out / "manifest.json"); in) {
        try {
            const auto m = nlohmann::json::parse(in);
            if (m.at("config_key") == key && count_files(out / "references") == m.at("counts").at("references").get<std::size_t>() &&
                count_files(out / "queries") == m.at("counts").at("queries").get<std::size_t>() &&
                count_files(out / "distractors") == m.at("counts").at("distractor_copies").get<std::size_t>() &&
                fs::exists(out / "ground_truth.csv")) {
                summary.up_to_date = true;
                summary.references = m["counts"]["references"];
                summary.queries = m["counts"]["queries"];
                summary.in_index = m["counts"]["in_index"];
                summary.hard_negatives = m["counts"]["hard_negative"];
                summary.distractor_copies = m["counts"]["distractor_copies"];
                summary.thumbnail_references = m["counts"].value("thumbnail_references", std::size_t{0});
                summary.per_family = m["counts"]["per_family"].get<std::map<std::string, int>>();
                summary.per_split = m["counts"]["per_split"].get<std::map<std::string, int>>();
                say("benchmark in " + out.string() + " is up to date (config key " + key + ")");
                return summary;
            }
        } catch (const nlohmann::json::exception&) {
            // An unreadable manifest is rebuilt like a missing one.
        }
    }

    // 1. Load and measure every source (parallel), then screen.
    say("measuring " + std::to_string(entries.size()) + " sources");
    std::vector<SourceStats> stats(entries.size());
    std::vector<std::string> load_errors(entries.size());
    tbb::parallel_for(std::size_t{0}, entries.size(), [&](std::size_t i) {
        try {
            stats[i] = measure_source(entries[i], load_seeded(entries[i]));
        } catch (const std::exception& e) {
            load_errors[i] = e.what();  // screened out as too small below
        }
    });
    for (const auto& e : load_errors) if (!e.empty()) say("skipped: " + e);
    summary.screening = screen_sources(entries, stats);
    const auto& sc = summary.screening;
    say("kept " + std::to_string(sc.kept.size()) + " of " + std::to_string(entries.size()) + " (small " + std::to_string(sc.dropped_small) +
        ", flat " + std::to_string(sc.dropped_flat) + ", low quality " + std::to_string(sc.dropped_low_quality) + ", repeats " +
        std::to_string(sc.dropped_duplicate) + ")");
    // Every source with what screening measured and decided, for reviewing the choices.
    {
        std::vector<int> decision(entries.size(), 0);  // 0 dropped, 1 kept
        for (const std::size_t i : sc.kept) decision[i] = 1;
        fs::create_directories(out);
        std::ofstream csv(out / "sources.csv");
        csv << "path,package,role,group,width,height,pdq_quality,flat_fraction,kept\n";
        for (std::size_t i = 0; i < entries.size(); ++i)
            csv << entries[i].path.string() << ',' << entries[i].package << ',' << to_string(entries[i].role) << ','
                << entries[i].group << ',' << stats[i].width << ',' << stats[i].height << ',' << stats[i].pdq_quality << ','
                << stats[i].flat_fraction << ',' << decision[i] << '\n';
    }
    std::vector<SourceEntry> kept;
    for (const std::size_t i : sc.kept) kept.push_back(entries[i]);
    const BenchmarkPlan plan = plan_benchmark(kept, config);

    // 2. Fresh output folders: stale files from another configuration must not survive.
    fs::create_directories(out);
    fs::remove(out / "manifest.json");
    fs::remove_all(out / "references");
    fs::remove_all(out / "queries");
    fs::remove_all(out / "distractors");
    fs::create_directories(out / "references");
    fs::create_directories(out / "queries");

    std::vector<cv::Mat> pool;
    for (const std::size_t i : plan.tile_pool) pool.push_back(load_seeded(plan.sources[i]).bgr);

    say("writing " + std::to_string(plan.references.size()) + " references");
    tbb::parallel_for(std::size_t{0}, plan.references.size(), [&](std::size_t k) {
        const auto& r = plan.references[k];
        const cv::Mat photo = load_seeded(plan.sources[r.source]).bgr;
        if (!r.thumbnail) {
            write_file(out / "references" / (r.id + ".jpg"), encode_jpeg(photo, kReferenceJpegQuality));
            return;
        }
        Rng rng(splitmix64(config.seed ^ fnv1a("thumbnail-size:" + r.id)));
        const cv::Mat small = downscale_to(photo, std::uniform_int_distribution<int>(150, 400)(rng));
        const int quality = (rng() & 1) ? std::uniform_int_distribution<int>(30, 50)(rng) : std::uniform_int_distribution<int>(70, 90)(rng);
        write_file(out / "references" / (r.id + ".jpg"), encode_jpeg(small, quality));
    });

    say("writing " + std::to_string(plan.queries.size()) + " queries");
    std::vector<std::string> chains(plan.queries.size());
    std::vector<cv::Mat> sheet_images(plan.queries.size());
    std::vector<bool> on_sheet(plan.queries.size(), false);
    {
        std::map<EditFamily, int> taken;
        for (std::size_t k = 0; k < plan.queries.size(); ++k)
            if (taken[plan.queries[k].family]++ < kContactSheetPerFamily) on_sheet[k] = true;
    }
    tbb::parallel_for(std::size_t{0}, plan.queries.size(), [&](std::size_t k) {
        const PlannedQuery& q = plan.queries[k];
        const LoadedSource src = load_seeded(plan.sources[q.source]);
        Rng rng(q.seed);
        EditInputs inputs{src.alpha, pool};
        EditedQuery edited;
        if (q.family == EditFamily::hard_negative) {
            // A different photo of the object, then what any re-upload goes through: a light edit or two.
            std::uniform_int_distribution<std::size_t> pick(0, kEditFamilies.size() - 1);
            EditFamily primary = kEditFamilies[pick(rng)];
            edited = make_query(src.bgr, primary, rng, inputs, 2);
            chains[k] = "hard_negative+" + edited.chain_text();
        } else {
            edited = make_query(src.bgr, q.family, rng, inputs, 3);
            chains[k] = edited.chain_text();
        }
        write_file(out / "queries" / (q.id + ".jpg"), edited.jpeg);
        if (on_sheet[k]) sheet_images[k] = edited.image;
    });

    if (config.distractor_copies > 0) summary.distractor_copies = write_distractor_copies(plan, config, out, say);

    // 3. The CSV files (rows in id order), the contact sheet, then the manifest last: it marks a finished build.
    std::vector<std::size_t> order(plan.queries.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return plan.queries[x].id < plan.queries[y].id; });
    std::ofstream gt(out / "ground_truth.csv"), qs(out / "queries.csv"), hn(out / "hard_negatives.csv");
    gt << "query_id,reference_id\n";
    qs << "query_id,source_id,in_index,family,edits,split\n";
    hn << "query_id,related_reference_id\n";
    std::vector<std::pair<std::string, cv::Mat>> sheet;
    for (const std::size_t k : order) {
        const PlannedQuery& q = plan.queries[k];
        gt << q.id << ',' << q.reference_id << '\n';
        qs << q.id << ',' << q.source_id << ',' << (q.in_index ? 1 : 0) << ',' << to_string(q.family) << ',' << chains[k] << ','
           << to_string(q.split) << '\n';
        if (q.family == EditFamily::hard_negative) {
            hn << q.id << ',' << q.related_reference_id << '\n';
            ++summary.hard_negatives;
        }
        if (q.in_index) ++summary.in_index;
        ++summary.per_family[std::string(to_string(q.family))];
        ++summary.per_split[std::string(to_string(q.split))];
    }
    gt.close(), qs.close(), hn.close();
    if (!gt || !qs || !hn) throw std::runtime_error("cannot write the CSV files under " + out.string());
    std::vector<std::size_t> sheet_order;
    for (const std::size_t k : order) if (on_sheet[k]) sheet_order.push_back(k);
    std::stable_sort(sheet_order.begin(), sheet_order.end(), [&](std::size_t x, std::size_t y) { return plan.queries[x].family < plan.queries[y].family; });
    for (const std::size_t k : sheet_order)
        sheet.emplace_back(plan.queries[k].id + " " + std::string(to_string(plan.queries[k].family)), sheet_images[k]);
    cv::imwrite((out / "contact_sheet.png").string(), make_contact_sheet(sheet));

    summary.references = plan.references.size();
    summary.queries = plan.queries.size();
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    nlohmann::json packages = nlohmann::json::object();
    for (const auto& e : entries) {
        auto& p = packages[e.package];
        p["version"] = e.version;
        p["listed"] = p.value("listed", 0) + 1;
        if (!p.contains("kept")) p["kept"] = 0;
    }
    for (const auto& e : kept) packages[e.package]["kept"] = packages[e.package]["kept"].get<int>() + 1;
    std::size_t with_queries = 0;
    std::vector<std::string> thumbnails;
    for (const auto& r : plan.references) {
        with_queries += r.has_queries ? 1 : 0;
        if (r.thumbnail) thumbnails.push_back(r.id);
    }
    summary.thumbnail_references = thumbnails.size();
    nlohmann::json manifest = {
        {"format_version", kFormatVersion},
        {"config_key", key},
        {"seed", config.seed},
        {"command", config.command},
        {"date", utc_now()},
        {"build_seconds", summary.seconds},
        {"config", {{"target_queries", config.target_queries}, {"target_references", config.target_references},
                    {"hard_negative_variants", config.hard_negative_variants}, {"tile_pool", config.tile_pool}}},
        {"source_packages", packages},
        {"thumbnail_references", thumbnails},
        {"screening", {{"listed", entries.size()}, {"kept", sc.kept.size()}, {"dropped_small", sc.dropped_small},
                       {"dropped_flat", sc.dropped_flat}, {"dropped_low_quality", sc.dropped_low_quality},
                       {"dropped_duplicate", sc.dropped_duplicate}}},
        {"counts", {{"references", summary.references}, {"references_with_queries", with_queries},
                    {"distractor_references", summary.references - with_queries}, {"tile_pool", plan.tile_pool.size()},
                    {"queries", summary.queries}, {"in_index", summary.in_index},
                    {"not_in_index", summary.queries - summary.in_index}, {"hard_negative", summary.hard_negatives},
                    {"per_family", summary.per_family}, {"per_split", summary.per_split},
                    {"distractor_copies", summary.distractor_copies}, {"thumbnail_references", summary.thumbnail_references}}},
    };
    std::ofstream mf(out / "manifest.json");
    mf << manifest.dump(2) << '\n';
    if (!mf) throw std::runtime_error("cannot write " + (out / "manifest.json").string());
    say("done in " + std::to_string(static_cast<int>(summary.seconds)) + " s");
    return summary;
}

void write_review_sheets(const std::vector<SourceEntry>& entries, const std::filesystem::path& dir,
                         const std::function<void(const std::string&)>& log) {
    std::vector<SourceStats> stats(entries.size());
    tbb::parallel_for(std::size_t{0}, entries.size(), [&](std::size_t i) {
        try {
            stats[i] = measure_source(entries[i], load_seeded(entries[i]));
        } catch (const std::exception&) {
        }
    });
    const ScreeningResult sc = screen_sources(entries, stats);
    std::vector<bool> kept(entries.size(), false);
    for (const std::size_t i : sc.kept) kept[i] = true;
    const ScreeningLimits limits;
    std::filesystem::create_directories(dir);
    std::map<std::string, std::vector<std::size_t>> sheets;
    for (std::size_t i = 0; i < entries.size(); ++i) sheets[entries[i].package + (kept[i] ? "-kept" : "-dropped")].push_back(i);
    for (const auto& [name, members] : sheets) {
        for (std::size_t start = 0; start < members.size(); start += 48) {
            std::vector<std::pair<std::string, cv::Mat>> tiles;
            for (std::size_t k = start; k < std::min(members.size(), start + 48); ++k) {
                const std::size_t i = members[k];
                const SourceStats& s = stats[i];
                std::string why;
                if (!kept[i]) {
                    if (std::min(s.width, s.height) < limits.min_side) why = " small";
                    else if (s.flat_fraction > limits.max_flat_fraction) why = " flat";
                    else if (s.pdq_quality < limits.min_pdq_quality) why = " lowq";
                    else why = " repeat";
                }
                cv::Mat img;
                try {
                    img = load_seeded(entries[i]).bgr;
                } catch (const std::exception&) {
                    img = cv::Mat(32, 32, CV_8UC3, cv::Scalar(0, 0, 255));
                }
                tiles.emplace_back(entries[i].path.stem().string().substr(0, 18) + why + " " + std::to_string(static_cast<int>(s.flat_fraction * 100)), img);
            }
            const auto path = dir / (name + "-" + std::to_string(start / 48 + 1) + ".png");
            cv::imwrite(path.string(), make_contact_sheet(tiles));
            if (log) log("wrote " + path.string());
        }
    }
}

}  // namespace neardup::datasets
