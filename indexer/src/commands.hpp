// The subcommands of the `neardup` executable; each returns the process exit status.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "neardup/engine/embedding.hpp"
#include "neardup/exit_status.hpp"
#include "neardup/store/shard.hpp"

namespace neardup::cli {


struct FingerprintArgs {
    std::vector<std::string> paths;
    bool dihedral = false;
    std::string features = "orb";
    int max_keypoints = 256;
    std::uint64_t max_pixels = 50'000'000;
};

struct IndexArgs {
    std::string db;
    std::vector<std::string> paths;
    std::vector<std::string> labels;  // name=value
    std::string manifest;
    std::string errors_file;
    bool replace = false;
};

struct QueryArgs {
    std::string db;
    std::vector<std::string> paths;
    int top = 10;
    std::optional<double> threshold;
    bool json = false;
    std::string draw_dir;
    std::vector<std::string> labels;  // required labels, name=value
};

struct HashArgs {
    std::vector<std::string> paths;
    std::string convention = "neardup";
    std::uint64_t max_pixels = 50'000'000;
};

struct ExportArgs {
    std::string db;
    std::string format = "pdq";
    std::vector<std::string> labels;  // only references carrying these name=value labels
    std::string convention;           // empty: the catalog's hashes; else recomputed from source files
    std::string output;               // empty: standard output
};

struct ImportArgs {
    std::string db;
    std::string format = "pdq";
    std::string file;
    std::vector<std::string> labels;  // added to every imported hash
    bool replace = false;
};

// The catalog every command's --db index uses: empty for the directory's own catalog.sqlite, or a
// postgresql:// URI shared with other processes (--catalog, or NEARDUP_CATALOG).
void set_catalog_address(std::string address);
// The shard every command's store holds (default: every key); `index` also keeps only that shard's inputs.
void set_shard(const store::Shard& shard);
// The embedding model (--embedder) every command's store and `fingerprint` use; none by default.
void set_embedder(std::shared_ptr<const Embedder> embedder);

int run_fingerprint(const FingerprintArgs& args);
int run_hash(const HashArgs& args);
int run_export(const ExportArgs& args);
int run_import(const ImportArgs& args);
int run_thumbnails(const std::string& db);
int run_index(const IndexArgs& args);
int run_query(const QueryArgs& args);
int run_delete(const std::string& db, const std::vector<std::string>& keys);
int run_compact(const std::string& db);
int run_stats(const std::string& db);
int run_check(const std::string& db, bool json);

}  // namespace neardup::cli
