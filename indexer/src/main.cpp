// The `neardup` command line: fingerprint, index, query, delete, compact, stats, check, hash, export, import, thumbnails.
#include <cstdlib>
#include <memory>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>

#include "commands.hpp"
#include "neardup/store/catalog.hpp"
#include "neardup/store/embedder_file.hpp"

using namespace neardup::cli;
using neardup::kExitFailure;
using neardup::kExitOk;
using neardup::kExitUsage;

int main(int argc, char** argv) {
    spdlog::set_default_logger(spdlog::stderr_color_st("neardup"));
    spdlog::set_pattern("neardup: %^%l%$: %v");

    CLI::App app{"neardup: recognise edited copies of known product photos"};
    app.set_version_flag("--version", "neardup 0.1.0");
    app.require_subcommand(1);
    int threads = 0;
    app.add_option("--threads", threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
    std::string catalog;
    app.add_option("--catalog", catalog,
                   "a PostgreSQL catalog shared with other processes (postgresql://USER@HOST/DATABASE; default: catalog.sqlite "
                   "in the --db directory, which then holds only this process's index files)")
        ->envname("NEARDUP_CATALOG");
    std::string shard;
    app.add_option("--shard", shard,
                   "k/N: only the references whose keys shard k of N owns (README \"Shards\"; needs --catalog); job/N takes k "
                   "from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job). index then adds only that share of its inputs");

    std::string embedder;
    int embedder_input = neardup::EmbedderOptions{}.input_side;
    app.add_option("--embedder", embedder,
                   "an ONNX image-embedding model (for example a copy-detection model exported to ONNX): every reference and "
                   "query also gets its embedding, and the most similar references are verified too. The index records the "
                   "model; it must be given to every later command that writes to it")
        ->envname("NEARDUP_EMBEDDER");
    app.add_option("--embedder-input", embedder_input, "the model's square input side in pixels")
        ->check(CLI::Range(8, 2048))->capture_default_str();

    FingerprintArgs fp;
    auto* fingerprint = app.add_subcommand("fingerprint", "print the fingerprints of image files as JSON lines");
    fingerprint->add_option("paths", fp.paths, "image files or directories (searched recursively)")->required();
    fingerprint->add_flag("--dihedral", fp.dihedral, "also print the 8 rotated/mirrored PDQ variants");
    fingerprint->add_option("--features", fp.features, "local feature kind")
        ->check(CLI::IsMember({"orb", "akaze", "sift"}))->capture_default_str();
    fingerprint->add_option("--max-keypoints", fp.max_keypoints, "keypoints kept per image")
        ->check(CLI::Range(1, 4096))->capture_default_str();
    fingerprint->add_option("--max-pixels", fp.max_pixels, "refuse images with more pixels than this")
        ->check(CLI::PositiveNumber)->capture_default_str();

    IndexArgs ix;
    auto* index = app.add_subcommand("index", "add images to an index (resumable: re-run the same command after a crash)");
    index->add_option("--db", ix.db, "index directory (created if missing)")->required();
    index->add_option("paths", ix.paths, "image files or directories (searched recursively); key = file name without extension");
    index->add_option("--manifest", ix.manifest, "CSV with columns key,path and optional label columns");
    index->add_option("--label", ix.labels, "name=value label for every image (repeatable)")->allow_extra_args(false);
    index->add_flag("--replace", ix.replace, "replace the image of a key that already holds a different one");
    index->add_option("--errors", ix.errors_file, "also write failed inputs here as JSON lines");

    QueryArgs q;
    auto* query = app.add_subcommand("query", "find the indexed references that query images are copies of");
    query->add_option("--db", q.db, "index directory")->required();
    query->add_option("paths", q.paths, "query image files or directories")->required();
    query->add_option("--top", q.top, "references listed per query (0 = every verified candidate)")
        ->check(CLI::NonNegativeNumber)->capture_default_str();
    query->add_option("--threshold", q.threshold, "match decision threshold on the score, overriding the default")
        ->check(CLI::Range(0.0, 1.0));
    query->add_flag("--json", q.json, "one JSON object per line and per query");
    query->add_option("--draw", q.draw_dir, "write a side-by-side review picture of each query and its best match here");
    query->add_option("--label", q.labels, "only references carrying this name=value label (repeatable)")->allow_extra_args(false);

    std::string db;
    std::vector<std::string> keys;
    auto* del = app.add_subcommand("delete", "remove keys from search at once (space is reclaimed by compact)");
    del->add_option("--db", db, "index directory")->required();
    del->add_option("keys", keys, "keys to delete")->required();
    auto* compact = app.add_subcommand("compact", "reclaim the space of deleted images and rebuild the indexes");
    compact->add_option("--db", db, "index directory")->required();
    auto* stats = app.add_subcommand("stats", "print the index's counts as JSON");
    stats->add_option("--db", db, "index directory")->required();
    bool check_json = false;
    auto* check = app.add_subcommand("check", "verify the catalog, the snapshot's files and that the indexes agree with the catalog");
    check->add_option("--db", db, "index directory")->required();
    check->add_flag("--json", check_json, "the report as one JSON object");

    // Names the hash-exchange commands accept (engine/pdq_exchange.hpp, indexer/hash_list.hpp).
    const std::vector<std::string> conventions = {"neardup", "threatexchange"}, list_formats = {"pdq", "csv"};
    HashArgs hs;
    auto* hash = app.add_subcommand("hash", "print PDQ hashes of image files for exchange (hash,quality,path lines)");
    hash->add_option("paths", hs.paths, "image files or directories (searched recursively)")->required();
    hash->add_option("--convention", hs.convention,
                     "neardup: the image as shown (EXIF orientation applied, alpha on white); threatexchange: the pixels "
                     "as stored, as ThreatExchange's hashers read them")
        ->check(CLI::IsMember(conventions))->capture_default_str();
    hash->add_option("--max-pixels", hs.max_pixels, "refuse images with more pixels than this")
        ->check(CLI::PositiveNumber)->capture_default_str();

    ExportArgs ex;
    auto* exp = app.add_subcommand("export", "write the index's PDQ hashes as a hash list for partners");
    exp->add_option("--db", ex.db, "index directory")->required();
    exp->add_option("--format", ex.format, "pdq: one hex hash per line; csv: key,pdq,quality and label columns")
        ->check(CLI::IsMember(list_formats))->capture_default_str();
    exp->add_option("--label", ex.labels, "only references carrying this name=value label (repeatable)")->allow_extra_args(false);
    exp->add_option("--convention", ex.convention,
                    "recompute each image's hash from its source file under this convention (neardup or threatexchange) "
                    "instead of writing the catalog's search hashes")
        ->check(CLI::IsMember(conventions));
    exp->add_option("--output", ex.output, "write here instead of standard output");

    ImportArgs im;
    auto* imp = app.add_subcommand("import", "add a partner's PDQ hash list as hash-only references (searchable by PDQ)");
    imp->add_option("--db", im.db, "index directory (created if missing)")->required();
    imp->add_option("--format", im.format, "pdq: one hex hash per line (key pdq-<hash>); csv: key,pdq[,quality] and label columns")
        ->check(CLI::IsMember(list_formats))->capture_default_str();
    imp->add_option("--label", im.labels, "name=value label for every imported hash (repeatable)")->allow_extra_args(false);
    imp->add_flag("--replace", im.replace, "replace what a key already holds");
    imp->add_option("file", im.file, "the hash list")->required();

    auto* thumbnails = app.add_subcommand("thumbnails", "make the reviewer page's thumbnails of references indexed before they existed, "
                                                        "from their source files");
    thumbnails->add_option("--db", db, "index directory")->required();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? kExitOk : kExitUsage;
    }
    std::unique_ptr<tbb::global_control> limit;
    if (threads > 0) limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads);
    set_catalog_address(catalog);
    if (!embedder.empty()) {
        neardup::EmbedderOptions options;
        options.input_side = embedder_input;
        auto model = neardup::store::load_embedder_file(embedder, options);
        if (!model) {
            spdlog::error("--embedder: {}", model.error().message);
            return kExitUsage;
        }
        set_embedder(model.value());
    }
    if (!shard.empty()) {
        const auto parsed = neardup::store::parse_shard_argument(shard, std::getenv("JOB_COMPLETION_INDEX"));
        if (!parsed) {
            spdlog::error("--shard {}: expected k/N with 0 <= k < N <= 4096, or job/N with JOB_COMPLETION_INDEX set to k", shard);
            return kExitUsage;
        }
        set_shard(*parsed);
    }
    try {
        if (*fingerprint) return run_fingerprint(fp);
        if (*index) return run_index(ix);
        if (*query) return run_query(q);
        if (*del) return run_delete(db, keys);
        if (*compact) return run_compact(db);
        if (*stats) return run_stats(db);
        if (*check) return run_check(db, check_json);
        if (*hash) return run_hash(hs);
        if (*exp) return run_export(ex);
        if (*imp) return run_import(im);
        if (*thumbnails) return run_thumbnails(db);
    } catch (const neardup::store::StoreError& e) {
        spdlog::critical("{}", e.what());
        return kExitFailure;
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return kExitFailure;
    }
    return kExitUsage;
}
