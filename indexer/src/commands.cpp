#include "commands.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <spdlog/spdlog.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>

#include "neardup/engine/pdq_exchange.hpp"
#include "neardup/engine/signature_codec.hpp"
#include "neardup/indexer/fingerprint_job.hpp"
#include "neardup/indexer/hash_list.hpp"
#include "neardup/indexer/image_files.hpp"
#include "neardup/indexer/index_job.hpp"
#include "neardup/indexer/progress.hpp"
#include "neardup/indexer/review_image.hpp"
#include "neardup/store/json.hpp"

namespace neardup::cli {
namespace {

using json = nlohmann::ordered_json;

std::string hex64(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

// name=value pairs from the command line; throws with the offending argument.
store::Labels parse_labels(const std::vector<std::string>& pairs) {
    store::Labels out;
    for (const auto& p : pairs) {
        const auto eq = p.find('=');
        if (eq == std::string::npos || eq == 0) throw std::invalid_argument("label '" + p + "' is not name=value");
        out[p.substr(0, eq)] = p.substr(eq + 1);
    }
    return out;
}

// parse_labels for a command: a usage error is logged and comes back as nothing.
std::optional<store::Labels> labels_or_log(const std::vector<std::string>& pairs) {
    try {
        return parse_labels(pairs);
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return std::nullopt;
    }
}

json error_json(const Error& e) { return store::to_json(e); }

// The bytes a reference was indexed from: its source file, if it can still be read (read_file's error
// otherwise) and still holds those bytes (io_error otherwise). The caller checks that it has a source.
Result<std::vector<std::uint8_t>> read_indexed_source(const store::CatalogEntry& entry) {
    auto bytes = indexer::read_file(entry.source, indexer::kMaxImageFileBytes);
    if (bytes && store::sha256_of(bytes.value()) != entry.sha256)
        return make_error(ErrorCode::io_error, "source file " + entry.source + " changed since it was indexed");
    return bytes;
}

std::string& catalog_setting() {
    static std::string address;
    return address;
}

std::shared_ptr<const Embedder>& embedder_setting() {
    static std::shared_ptr<const Embedder> embedder;
    return embedder;
}

store::Shard& shard_setting() {
    static store::Shard shard;
    return shard;
}

// Options for a store opened in `mode`, on the catalog named by --catalog (default: the directory's own).
store::StoreOptions opened(store::OpenMode mode) {
    store::StoreOptions o;
    o.mode = mode;
    o.catalog = catalog_setting();
    o.shard = shard_setting();
    o.signature.embedder = embedder_setting();
    return o;
}

store::StoreOptions read_only() { return opened(store::OpenMode::read_only); }
store::StoreOptions writable() { return opened(store::OpenMode::write); }

// Writes DIR/<query>__<key>.jpg; the reference is read from the path it was indexed from, if still there.
void draw_review(const std::filesystem::path& dir, const std::filesystem::path& query_path,
                 const std::vector<std::uint8_t>& query_bytes, const store::SearchHit& hit, const store::Store& store) {
    const auto entry = store.get(hit.key);
    if (!entry || entry->source.empty()) return;
    auto ref_bytes = indexer::read_file(entry->source, indexer::kMaxImageFileBytes);
    if (!ref_bytes) {
        spdlog::warn("cannot draw {}: reference {} is no longer readable", query_path.string(), entry->source);
        return;
    }
    auto q = decode_image(query_bytes), r = decode_image(ref_bytes.value());
    if (!q || !r) return;
    store::SearchHit scaled = hit;  // region is in full-size pixels; the decode is full size here
    const auto out = dir / (query_path.stem().string() + "__" + hit.key + ".jpg");
    cv::imwrite(out.string(), indexer::review_image(q.value().bgr, r.value().bgr, scaled));
}

}  // namespace

void set_catalog_address(std::string address) { catalog_setting() = std::move(address); }
void set_shard(const store::Shard& shard) { shard_setting() = shard; }
void set_embedder(std::shared_ptr<const Embedder> embedder) { embedder_setting() = std::move(embedder); }

int run_fingerprint(const FingerprintArgs& args) {
    const auto list = indexer::collect_image_files(args.paths);
    for (const auto& m : list.missing) spdlog::error("no such file or directory: {}", m);
    if (list.files.empty()) {
        spdlog::error("no image files found in the given paths");
        return kExitUsage;
    }
    SignatureOptions options;
    options.embedder = embedder_setting();
    options.dihedral = args.dihedral;
    options.decode.max_pixels = args.max_pixels;
    options.features.max_keypoints = args.max_keypoints;
    options.features.kind = args.features == "akaze" ? FeatureKind::akaze
                          : args.features == "sift"  ? FeatureKind::sift
                                                     : FeatureKind::orb;
    const SignatureExtractor extractor(options);
    indexer::Progress progress(list.files.size());
    std::size_t done = 0, failed = 0;
    indexer::run_fingerprint_job(list.files, extractor, {}, [&](indexer::FingerprintOutcome& o) {
        json line = {{"path", o.path.string()}};
        if (o.signature.ok()) {
            const Signature& s = o.signature.value();
            line.update(json{{"width", s.width}, {"height", s.height}, {"pdq", s.pdq.hash.to_hex()},
                             {"pdq_quality", s.pdq.quality}, {"phash", hex64(s.phash.bits)},
                             {"average_hash", hex64(s.average_hash.bits)}, {"block_mean", s.block_mean.to_hex()},
                             {"features", std::string(to_string(s.features.kind))}, {"keypoints", s.features.size()},
                             {"signature_bytes", serialize(s).size()}});
            if (!s.pdq_dihedral.empty()) {
                auto& d = line["pdq_dihedral"] = json::array();
                for (const auto& h : s.pdq_dihedral) d.push_back(h.to_hex());
            }
            if (!s.embedding.empty()) line["embedding"] = s.embedding;  // with --embedder
        } else {
            ++failed;
            line["error"] = error_json(o.signature.error());
        }
        progress.finish();
        std::cout << store::dump_json(line) << '\n';
        progress.advance(++done);
    });
    progress.finish();
    std::cout.flush();
    spdlog::info("fingerprinted {} of {} files in {:.2f} s ({:.1f} files/s), {} failed", done - failed, done,
                 progress.seconds(), done / std::max(progress.seconds(), 1e-9), failed);
    return failed + list.missing.size() > 0 ? kExitSomeFailed : kExitOk;
}

int run_hash(const HashArgs& args) {
    const auto convention = parse_pdq_convention(args.convention);
    const auto list = indexer::collect_image_files(args.paths);
    for (const auto& m : list.missing) spdlog::error("no such file or directory: {}", m);
    if (!convention || list.files.empty()) {
        if (list.files.empty()) spdlog::error("no image files found in the given paths");
        return kExitUsage;
    }
    DecodeOptions limits;
    limits.max_pixels = args.max_pixels;
    std::vector<Result<PdqHash>> hashes(list.files.size(), Error{ErrorCode::io_error, ""});
    tbb::parallel_for(std::size_t{0}, list.files.size(), [&](std::size_t i) {
        auto bytes = indexer::read_file(list.files[i], indexer::kMaxImageFileBytes);
        hashes[i] = bytes ? exchange_pdq(bytes.value(), *convention, limits) : Result<PdqHash>(bytes.error());
    });
    std::size_t failed = list.missing.size();
    for (std::size_t i = 0; i < hashes.size(); ++i) {
        if (!hashes[i]) {
            ++failed;
            spdlog::error("{}: {}", list.files[i].string(), hashes[i].error().message);
            continue;
        }
        // The reference hashers' own line: hash,quality,path.
        std::cout << hashes[i].value().hash.to_hex() << ',' << hashes[i].value().quality << ',' << list.files[i].string() << '\n';
    }
    std::cout.flush();
    return failed > 0 ? kExitSomeFailed : kExitOk;
}

int run_export(const ExportArgs& args) {
    const auto format = indexer::parse_hash_list_format(args.format);
    std::optional<PdqConvention> convention;
    if (!args.convention.empty()) convention = parse_pdq_convention(args.convention);
    const auto parsed = labels_or_log(args.labels);
    if (!parsed || !format || (!args.convention.empty() && !convention)) return kExitUsage;  // CLI11 checks the names first
    const store::Labels& wanted = *parsed;
    const store::Store store(args.db, read_only());
    std::vector<indexer::HashListEntry> entries;
    std::size_t failed = 0;
    store.for_each_active([&](const store::CatalogEntry& entry, const Signature& signature) {
        if (!store::has_labels(entry.labels, wanted)) return;
        indexer::HashListEntry e{entry.key, signature.pdq, entry.labels};
        if (convention && !entry.hash_only()) {
            // The exchange hash of the very bytes that were indexed.
            auto bytes = entry.source.empty() ? Result<std::vector<std::uint8_t>>(make_error(ErrorCode::io_error, "no source file recorded (added over HTTP)"))
                                              : read_indexed_source(entry);
            const Result<PdqHash> exact = bytes ? exchange_pdq(bytes.value(), *convention) : Result<PdqHash>(bytes.error());
            if (!exact) {
                ++failed;
                spdlog::error("{}: cannot hash under the {} convention: {}", entry.key, args.convention, exact.error().message);
                return;
            }
            e.pdq = exact.value();
        }
        entries.push_back(std::move(e));
    });
    std::ofstream file;
    if (!args.output.empty()) {
        file.open(args.output, std::ios::binary | std::ios::trunc);
        if (!file) {
            spdlog::error("cannot write {}", args.output);
            return kExitFailure;
        }
    }
    std::ostream& out = args.output.empty() ? std::cout : file;
    indexer::write_hash_list(out, *format, entries);
    out.flush();
    if (!out) {
        spdlog::error("writing the hash list failed{}", args.output.empty() ? "" : " (" + args.output + ")");
        return kExitFailure;
    }
    spdlog::info("exported {} hashes ({}){}", entries.size(), convention ? "the " + args.convention + " convention, from the source files" : "the catalog's",
                 failed ? fmt::format("; {} references failed", failed) : "");
    return failed > 0 ? kExitSomeFailed : kExitOk;
}

int run_import(const ImportArgs& args) {
    const auto format = indexer::parse_hash_list_format(args.format);
    const auto parsed = labels_or_log(args.labels);
    if (!parsed || !format) return kExitUsage;
    const store::Labels& extra = *parsed;
    std::ifstream in(args.file, std::ios::binary);
    if (!in) {
        spdlog::error("cannot read {}", args.file);
        return kExitFailure;
    }
    auto list = indexer::read_hash_list(in, *format);
    for (const auto& p : list.problems) spdlog::error("{}:{}: {}", args.file, p.line, p.message);
    store::StoreOptions options = opened(store::OpenMode::create);
    options.background_merges = false;  // one merge at the end
    store::Store store(args.db, options);
    std::size_t added = 0, replaced = 0, unchanged = 0, failed = list.problems.size();
    std::vector<store::PreparedAdd> batch;
    std::unordered_set<std::string> pending;  // keys in the batch: plan() sees only committed rows
    const auto flush = [&] {
        store.commit(std::move(batch));
        batch.clear();
        pending.clear();
    };
    for (auto& e : list.entries) {
        for (const auto& [name, value] : extra) e.labels[name] = value;
        if (pending.contains(e.key)) flush();  // the same key twice in the list: the second is planned against the first
        pending.insert(e.key);
        const auto status = store.plan(e.key, store::Store::hash_identity(e.pdq), args.replace);
        if (status == store::AddStatus::unchanged) {
            ++unchanged;
            continue;
        }
        if (status == store::AddStatus::conflict) {
            ++failed;
            spdlog::error("{}: key already holds another reference (--replace to replace it)", e.key);
            continue;
        }
        auto prepared = store.prepare_hash(e.key, e.pdq, e.labels, status == store::AddStatus::replaced);
        if (!prepared) {
            ++failed;
            spdlog::error("{}: {}", e.key, prepared.error().message);
            continue;
        }
        ++(status == store::AddStatus::replaced ? replaced : added);
        batch.push_back(std::move(prepared).value());
        if (batch.size() >= 1000) flush();
    }
    flush();
    store.optimise();
    store.save_snapshot();
    spdlog::info("{} hashes imported, {} replaced, {} unchanged, {} failed; the index holds {} references", added, replaced,
                 unchanged, failed, store.stats().active);
    return failed > 0 ? kExitSomeFailed : kExitOk;
}

int run_thumbnails(const std::string& db) {
    store::Store store(db, writable());
    std::size_t made = 0, no_source = 0, failed = 0;
    std::int64_t after = 0;
    for (auto page = store.missing_thumbnails(after, 256); !page.empty(); page = store.missing_thumbnails(after, 256)) {
        for (const auto& entry : page) {
            after = entry.id;
            if (entry.source.empty()) {
                ++no_source;  // added over HTTP: nothing to read it back from
                continue;
            }
            const auto bytes = read_indexed_source(entry);
            const auto jpeg = bytes ? store.make_thumbnail(bytes.value()) : Result<std::vector<std::uint8_t>>(bytes.error());
            if (!jpeg) {
                ++failed;
                spdlog::error("{}: {}", entry.key, jpeg.error().message);
                continue;
            }
            store.set_thumbnail(entry.id, jpeg.value());
            ++made;
        }
    }
    spdlog::info("{} thumbnails made; {} references without a source file to make one from (added over HTTP), {} failed", made,
                 no_source, failed);
    return failed + no_source > 0 ? kExitSomeFailed : kExitOk;
}

int run_index(const IndexArgs& args) {
    if (args.manifest.empty() == args.paths.empty()) {
        spdlog::error("give image paths or --manifest FILE.csv (one of the two)");
        return kExitUsage;
    }
    std::vector<indexer::IndexInput> inputs;
    std::vector<std::string> missing;
    try {
        const store::Labels labels = parse_labels(args.labels);
        if (!args.manifest.empty()) {
            inputs = indexer::read_manifest(args.manifest);
            for (auto& in : inputs)
                for (const auto& [k, v] : labels) in.labels.emplace(k, v);
        } else {
            const auto list = indexer::collect_image_files(args.paths);
            missing = list.missing;
            inputs = indexer::inputs_from_files(list.files, labels);
        }
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return kExitUsage;
    }
    for (const auto& m : missing) spdlog::error("no such file or directory: {}", m);
    if (const store::Shard shard = shard_setting(); !shard.all()) {
        // This run's share of the inputs: N runs with shards 0/N .. N-1/N index all of them once between them.
        const std::size_t given = inputs.size();
        std::erase_if(inputs, [&](const indexer::IndexInput& in) { return !shard.owns(in.key); });
        spdlog::info("shard {}: {} of the {} inputs are this shard's", shard.text(), inputs.size(), given);
    }
    std::ofstream errors;
    if (!args.errors_file.empty()) {
        errors.open(args.errors_file, std::ios::trunc);
        if (!errors) {
            spdlog::error("cannot write --errors file {}", args.errors_file);
            return kExitFailure;
        }
    }
    store::StoreOptions store_options = opened(store::OpenMode::create);
    store_options.background_merges = false;  // a bulk load: optimise() merges once at the end
    // Into a shared catalog the rows are for the serving processes, which follow it: building this run's own
    // indexes (the whole catalog's, on open) would cost minutes per run and serve nobody.
    store_options.load_indexes = !store::is_postgres_url(store_options.catalog);
    store::Store store(args.db, store_options);
    indexer::Progress progress(inputs.size());
    std::size_t done = 0;
    indexer::IndexJobOptions options;
    options.replace = args.replace;
    const auto summary = indexer::run_index_job(store, inputs, options, [&](const indexer::IndexEvent& e) {
        if (e.outcome == indexer::IndexOutcome::failed) {
            progress.finish();
            spdlog::error("{}: {}", e.input->path.string(), e.error.message);
            if (errors.is_open())
                errors << store::dump_json(json{{"key", e.input->key}, {"path", e.input->path.string()}, {"error", error_json(e.error)}}) << '\n';
        }
        progress.advance(++done);
    });
    progress.finish();
    const auto stats = store.stats();
    spdlog::info("{} indexed, {} replaced, {} unchanged, {} failed in {:.1f} s ({:.1f} files/s); the index holds {} images",
                 summary.added, summary.replaced, summary.unchanged, summary.failed, progress.seconds(),
                 inputs.size() / std::max(progress.seconds(), 1e-9), stats.active);
    return summary.failed + missing.size() > 0 ? kExitSomeFailed : kExitOk;
}

int run_query(const QueryArgs& args) {
    store::SearchOptions options;
    options.top = args.top;
    options.threshold = args.threshold;
    const auto required = labels_or_log(args.labels);
    if (!required) return kExitUsage;
    options.required_labels = *required;
    if (!args.draw_dir.empty()) std::filesystem::create_directories(args.draw_dir);
    const store::Store store(args.db, read_only());
    const auto list = indexer::collect_image_files(args.paths);
    std::size_t failed = list.missing.size();
    for (const auto& m : list.missing) {
        if (args.json) std::cout << store::dump_json(json{{"query", std::filesystem::path(m).stem().string()}, {"path", m},
                                                          {"error", error_json(make_error(ErrorCode::io_error, "no such file or directory: " + m))}}) << '\n';
        else spdlog::error("no such file or directory: {}", m);
    }
    struct Item {
        std::filesystem::path path;
        Result<std::vector<store::SearchHit>> hits = Error{ErrorCode::io_error, ""};
    };
    std::size_t next = 0;
    tbb::parallel_pipeline(
        8,
        tbb::make_filter<void, std::shared_ptr<Item>>(tbb::filter_mode::serial_in_order,
            [&](tbb::flow_control& fc) -> std::shared_ptr<Item> {
                if (next >= list.files.size()) { fc.stop(); return nullptr; }
                auto item = std::make_shared<Item>();
                item->path = list.files[next++];
                return item;
            }) &
        tbb::make_filter<std::shared_ptr<Item>, std::shared_ptr<Item>>(tbb::filter_mode::parallel,
            [&](std::shared_ptr<Item> item) {
                auto bytes = indexer::read_file(item->path, indexer::kMaxImageFileBytes);
                if (!bytes) { item->hits = bytes.error(); return item; }
                item->hits = store.search(bytes.value(), options);
                if (item->hits.ok() && !args.draw_dir.empty() && !item->hits.value().empty())
                    draw_review(args.draw_dir, item->path, bytes.value(), item->hits.value().front(), store);
                return item;
            }) &
        tbb::make_filter<std::shared_ptr<Item>, void>(tbb::filter_mode::serial_in_order, [&](std::shared_ptr<Item> item) {
            const std::string query = item->path.stem().string();
            if (!item->hits.ok()) {
                ++failed;
                if (args.json) std::cout << store::dump_json(json{{"query", query}, {"path", item->path.string()}, {"error", error_json(item->hits.error())}}) << '\n';
                else std::cout << item->path.string() << ": error: " << item->hits.error().message << "\n\n";
                return;
            }
            const auto& hits = item->hits.value();
            if (args.json) {
                json matches = json::array();
                for (const auto& h : hits) matches.push_back(store::to_json(h));
                std::cout << store::dump_json(json{{"query", query}, {"path", item->path.string()}, {"matches", matches}}) << '\n';
            } else {
                std::cout << item->path.string() << (hits.empty() ? "  (no candidates)" : "") << '\n';
                for (const auto& h : hits)
                    std::cout << cv::format("  %-5s %.4f  %-32s inliers %3d  pdq %3d%s\n", h.match ? "MATCH" : "-", h.score,
                                            h.key.c_str(), h.inliers, h.pdq_distance, h.mirrored ? "  mirrored" : "");
                std::cout << '\n';
            }
        }));
    std::cout.flush();
    return failed > 0 ? kExitSomeFailed : kExitOk;
}

int run_delete(const std::string& db, const std::vector<std::string>& keys) {
    store::Store store(db, writable());
    std::size_t missing = 0;
    for (const auto& k : keys) {
        if (store.remove(k)) spdlog::info("deleted {}", k);
        else {
            spdlog::error("no image with key '{}'", k);
            ++missing;
        }
    }
    store.save_snapshot();
    return missing > 0 ? kExitSomeFailed : kExitOk;
}

int run_compact(const std::string& db) {
    store::Store store(db, writable());
    const auto removed = store.compact();
    spdlog::info("compacted {}: {} deleted rows reclaimed, {} images remain", db, removed, store.stats().active);
    return kExitOk;
}

int run_stats(const std::string& db) {
    const store::Store store(db, read_only());
    const auto s = store.stats();
    std::cout << store::dump_json(store::to_json(s), 2) << '\n';
    return kExitOk;
}

int run_check(const std::string& db, bool as_json) {
    const store::Store store(db, read_only());
    const auto report = store.check();
    const auto stats = store.stats();
    if (as_json) {
        std::cout << store::dump_json(json{{"healthy", report.healthy()}, {"rows_checked", report.rows_checked},
                                           {"catalog", report.catalog}, {"snapshot", report.snapshot},
                                           {"indexes", report.indexes}, {"segments_rebuilt_on_open", stats.segments_rebuilt}},
                                      2)
                  << '\n';
    } else {
        const auto section = [](const char* name, const std::vector<std::string>& problems, const std::string& ok, const std::string& todo) {
            if (problems.empty()) {
                std::cout << name << ": ok (" << ok << ")\n";
                return;
            }
            std::cout << name << ": " << problems.size() << " problem(s)\n";
            for (const auto& p : problems) std::cout << "  " << p << '\n';
            std::cout << "  what to do: " << todo << '\n';
        };
        section("catalog", report.catalog, "SQLite integrity_check",
                "restore catalog.sqlite from a backup; the indexes are rebuilt from it (it is the source of truth)");
        section("snapshot", report.snapshot, "every segment file matches its checksum",
                "nothing is lost: damaged segments are rebuilt from the catalog at every open; `neardup compact --db " + db +
                    "` rewrites them now");
        section("indexes", report.indexes, std::to_string(report.rows_checked) + " catalog rows, each indexed once with its descriptors",
                "`neardup compact --db " + db + "` rebuilds the indexes from the catalog");
    }
    return report.healthy() ? kExitOk : kExitFailure;
}

}  // namespace neardup::cli
