#include "neardup/store/store.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <unordered_set>
#include <unordered_map>

#include <faiss/impl/io.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <opencv2/imgcodecs.hpp>

#include "neardup/engine/hamming.hpp"
#include "neardup/engine/local_features.hpp"
#include "neardup/engine/signature_codec.hpp"
#include "directory_lock.hpp"
#include "durable_file.hpp"
#include "neardup/store/snapshot_manifest.hpp"
#include "neardup/store/key.hpp"
#include "neardup/store/postgres_catalog.hpp"
#include "neardup/store/sqlite_catalog.hpp"
#include "signature_rows.hpp"

namespace neardup::store {
namespace {

constexpr const char* kCatalogFile = "catalog.sqlite";
constexpr const char* kSnapshotFile = "snapshot.json";

}  // namespace

Sha256 sha256_of(std::span<const std::uint8_t> bytes) {
    Sha256 out{};
    unsigned int n = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), out.data(), &n, EVP_sha256(), nullptr) != 1 || n != out.size())
        throw std::runtime_error("SHA-256 failed");
    return out;
}

namespace {

// What the directory holds besides the catalog: a snapshot or segment files mean an index was here.
bool holds_index_files(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return false;
    for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = f.path().filename().string();
        if (name == kSnapshotFile || name.ends_with(".faiss")) return true;
    }
    return false;
}

std::string read_text_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw StoreError("cannot read " + file.string());
    return text;
}

CatalogMode catalog_mode(OpenMode mode) {
    switch (mode) {
        case OpenMode::create: return CatalogMode::create;
        case OpenMode::write: return CatalogMode::write;
        case OpenMode::read_only: break;
    }
    return CatalogMode::read_only;
}

}  // namespace

Store::Store(const std::filesystem::path& dir, StoreOptions options)
    : dir_(dir), options_(std::move(options)), extractor_(options_.signature) {
    if (options_.tail_rows < 1 || options_.merge_fanout < 2)
        throw std::invalid_argument("StoreOptions: tail_rows must be >= 1 and merge_fanout >= 2");
    std::error_code ec;
    if (is_postgres_url(options_.catalog)) {
        // A shared catalog: the directory holds only what this process derives from it (snapshot, segments).
        if (options_.mode != OpenMode::read_only) {
            std::filesystem::create_directories(dir_, ec);
            if (ec) throw StoreError("cannot create index directory " + dir_.string() + ": " + ec.message());
            lock_ = std::make_unique<DirectoryLock>(dir_);
        }
        catalog_ = std::make_unique<PostgresCatalog>(options_.catalog, catalog_mode(options_.mode));
    } else {
        if (!options_.catalog.empty())
            throw StoreError("catalog address " + options_.catalog + " is not a postgresql:// URI (the default catalog is " + kCatalogFile +
                             " in the index directory)");
        open_sqlite_catalog();
    }
    if (!options_.shard.all() && !catalog_->shared())
        throw StoreError("shard " + options_.shard.text() + " of " + dir_.string() + ": shards need a shared catalog (a postgresql:// URI)");
    check_embedder();
    searcher_ = std::make_unique<Searcher>(*catalog_, extractor_, options_);
    if (options_.query_cache_bytes > 0) query_cache_ = std::make_unique<QueryCache>(options_.query_cache_bytes);
    if (!options_.load_indexes) {
        view_.store(std::make_shared<IndexView>());
        open_stats_.snapshot_problem = "opened without indexes (catalog writes only)";
        return;
    }
    load_snapshot();
    if (options_.background_merges && options_.mode != OpenMode::read_only) {
        merger_ = std::jthread([this](std::stop_token stop) { merge_loop(stop); });
        request_merge();  // segments loaded from a snapshot may be due
    }
    if (catalog_->shared()) follower_ = std::jthread([this](std::stop_token stop) { follow_loop(stop); });
}

void Store::open_sqlite_catalog() {
    const auto catalog_file = dir_ / kCatalogFile;
    std::error_code ec;
    if (!std::filesystem::exists(catalog_file, ec)) {
        if (options_.mode != OpenMode::create)
            throw StoreError("no index at " + dir_.string() + " (no " + kCatalogFile + "): create one with `neardup index --db " +
                             dir_.string() + " PATH...`");
        // Answering "no match" from a new empty catalog beside an old index would be silently wrong.
        if (holds_index_files(dir_))
            throw StoreError(dir_.string() + " holds index files but no " + kCatalogFile + ": the catalog is the index's source "
                             "of truth and the other files cannot be searched without it. Restore " + kCatalogFile +
                             " from a backup, or move the directory away and index again");
        std::filesystem::create_directories(dir_, ec);
        if (ec) throw StoreError("cannot create index directory " + dir_.string() + ": " + ec.message());
    }
    if (options_.mode != OpenMode::read_only) lock_ = std::make_unique<DirectoryLock>(dir_);
    catalog_ = std::make_unique<SqliteCatalog>(catalog_file, catalog_mode(options_.mode));
    if (std::filesystem::file_size(catalog_file, ec) <= kQuickCheckBytes && !ec) {
        const auto problems = catalog_->integrity_problems(true);
        if (!problems.empty())
            throw StoreError("the catalog " + catalog_file.string() + " is damaged (" + problems.front() + (problems.size() > 1 ? ", ..." : "") +
                             "): restore it from a backup; `neardup check --db " + dir_.string() + "` lists every problem");
    }
}

Store::~Store() {
    follower_.request_stop();
    merger_.request_stop();  // wakes the merger and stops a merge under way; the jthread joins it
}

void Store::check_embedder() {
    constexpr const char* kSetting = "embedder";
    constexpr const char* kNone = "none";
    const auto& model = options_.signature.embedder;
    const std::string given = model ? model->identity() : kNone;
    std::optional<std::string> recorded = catalog_->setting(kSetting);
    if (!recorded) {
        // The first writable open of an empty catalog records its model, or that it has none, so that every
        // later writer (other processes on a shared catalog too) must agree. An index from before the
        // setting holds references without embeddings.
        const bool empty = catalog_->max_id() == 0;
        if (empty && options_.mode != OpenMode::read_only) recorded = catalog_->claim_setting(kSetting, given);
        else recorded = empty ? given : kNone;
    }
    embedder_ = *recorded == kNone ? std::string() : *recorded;
    if (*recorded == given) return;
    if (!model) {
        // Searching without the model only loses the embedding channel; adding would leave references out of it.
        if (options_.mode == OpenMode::read_only) {
            spdlog::warn("index {}: built with the embedding model {}; searching without it (no embedding candidates)", dir_.string(),
                         embedder_);
            return;
        }
        throw StoreError("the index at " + dir_.string() + " embeds its references with the model " + embedder_ +
                         ": open it with that model (--embedder), or its new references would have no embeddings");
    }
    if (embedder_.empty())
        throw StoreError("the index at " + dir_.string() + " was built without an embedding model, so its references have no " +
                         (options_.mode == OpenMode::read_only ? std::string("embeddings: open it without one")
                                                               : std::string("embeddings: index them again into a new directory with "
                                                                             "the model, or open this one without it")));
    throw StoreError("the index at " + dir_.string() + " was built with the embedding model " + embedder_ + ", not " + given +
                     ": embeddings of different models cannot be compared");
}

void Store::require_writable(const char* what) const {
    if (options_.mode == OpenMode::read_only) throw StoreError(std::string("cannot ") + what + ": the index " + dir_.string() + " is opened read-only");
}

std::shared_ptr<const Segment> Store::build_segment(std::int64_t after_id, std::int64_t last_id, std::size_t expected_descriptors,
                                                    const std::stop_token& stop) const {
    struct Stopped {};
    auto segment = std::make_shared<Segment>(options_.descriptors, options_.embeddings);
    segment->first_id = after_id + 1;
    segment->last_id = last_id;
    try {
        // Filed under the vocabulary from the first row (no flat copy of every descriptor on the way: a
        // million references would need both in memory at once).
        if (auto vocabulary = vocabulary_for(after_id, last_id, expected_descriptors, stop))
            segment->descriptors.organise(std::move(vocabulary));
        // Rows in batches, so that their descriptors are assigned to words in parallel.
        std::vector<std::int64_t> ids;
        std::vector<Signature> batch;
        const auto flush = [&] {
            std::vector<const LocalFeatures*> features;
            for (const auto& b : batch) features.push_back(&b.features);
            segment->descriptors.add_many(ids, features);
            ids.clear();
            batch.clear();
        };
        catalog_->scan(after_id, last_id, [&](std::int64_t id, bool active, std::span<const std::uint8_t> bytes) {
            if (stop.stop_requested()) throw Stopped{};
            if (!active) return;  // deleted before the build: nothing to find
            Signature signature = detail::decode_signature_or_throw(id, bytes);
            segment->pdq.add(id, signature.pdq.hash);
            if (!signature.embedding.empty()) segment->embeddings.add(id, signature.embedding);
            ++segment->rows;
            ids.push_back(id);
            batch.push_back(std::move(signature));
            if (batch.size() == 1024) flush();
        }, options_.shard);
        flush();
    } catch (const Stopped&) {
        return nullptr;
    }
    segment->pdq.seal(options_.pdq_table_rows);
    segment->embeddings.seal();
    return segment;
}

std::size_t Store::expected_descriptors(std::int64_t after_id, std::int64_t last_id) const {
    return static_cast<std::size_t>(std::max<std::int64_t>(0, last_id - after_id)) * static_cast<std::size_t>(options_.descriptors.per_reference);
}

std::shared_ptr<const Vocabulary> Store::vocabulary_for(std::int64_t after_id, std::int64_t last_id, std::size_t expected_descriptors,
                                                        const std::stop_token& stop) const {
    auto current = vocabulary_.load();
    const std::size_t groups = Vocabulary::groups_for(expected_descriptors);
    if (expected_descriptors < options_.descriptors.ivf_threshold || (current && current->groups() >= groups)) return current;
    // A sample of the rows' descriptors, evenly spread, as many as training uses.
    const auto started = std::chrono::steady_clock::now();
    const std::size_t wanted = groups * groups * 24;
    const std::size_t stride = std::max<std::size_t>(1, expected_descriptors / wanted);
    std::vector<std::uint8_t> sample;
    std::size_t seen = 0;
    struct Stopped {};
    try {
        catalog_->scan(after_id, last_id, [&](std::int64_t id, bool active, std::span<const std::uint8_t> bytes) {
            if (stop.stop_requested()) throw Stopped{};
            if (!active) return;
            const Signature s = detail::decode_signature_or_throw(id, bytes);
            if (descriptor_bytes(s.features.kind) != static_cast<int>(kBinaryDescriptorBytes)) return;
            const std::size_t n = std::min<std::size_t>(s.features.size(), static_cast<std::size_t>(options_.descriptors.per_reference));
            for (std::size_t i = 0; i < n; ++i, ++seen)
                if (seen % stride == 0)
                    sample.insert(sample.end(), s.features.descriptors.begin() + static_cast<std::ptrdiff_t>(i * kBinaryDescriptorBytes),
                                  s.features.descriptors.begin() + static_cast<std::ptrdiff_t>((i + 1) * kBinaryDescriptorBytes));
        }, options_.shard);
    } catch (const Stopped&) {
        return current;
    }
    // The estimate may be high (deleted rows, photos with few keypoints): sized for what was seen.
    const std::size_t n = sample.size() / kBinaryDescriptorBytes;
    const std::size_t fitted = Vocabulary::groups_for(seen);
    if (n == 0 || seen < options_.descriptors.ivf_threshold || (current && current->groups() >= fitted)) return current;
    auto trained = std::make_shared<const Vocabulary>(Vocabulary::train(sample.data(), n, fitted, fitted));
    spdlog::info("index {}: trained a vocabulary of {} visual words on {} of {} descriptors in {:.1f} s", dir_.string(), trained->size(), n,
                 seen, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    // A concurrent build (the merger beside optimise) may have trained one too: the larger one stays.
    while (!(current && current->groups() >= trained->groups()) && !vocabulary_.compare_exchange_weak(current, trained)) {
    }
    return trained;
}

// The snapshot is only a head start: anything it lacks is read from the catalog; a snapshot from another
// generation (before a compaction) or one that fails to parse is ignored, and a segment whose files fail
// their checksum or their load is rebuilt from the catalog. Each of these is logged with its reason: an
// operator must be able to tell why a start took minutes.
void Store::load_snapshot() {
    // Read before the rows: whatever commits later has a later change number, and the follower takes it.
    change_cursor_ = catalog_->last_change();
    generation_ = catalog_->generation();
    auto view = std::make_shared<IndexView>();
    const auto snapshot_path = dir_ / kSnapshotFile;
    bool loaded = false;
    std::string problem;
    std::int64_t rebuilt = 0;
    std::error_code ec;
    if (!std::filesystem::exists(snapshot_path, ec)) {
        problem = catalog_->max_id() > 0 ? "no snapshot.json" : "";
    } else {
        auto manifest = parse_snapshot_manifest(read_text_file(snapshot_path));
        const std::int64_t generation = catalog_->generation(), catalog_max = catalog_->max_id();
        if (!manifest) {
            problem = manifest.error().message;
        } else if (manifest.value().generation != generation) {
            problem = "snapshot of generation " + std::to_string(manifest.value().generation) + ", the catalog is at " +
                      std::to_string(generation) + " (compacted since)";
        } else if (manifest.value().catalog != catalog_->identity()) {
            problem = "snapshot of another catalog (" + (manifest.value().catalog.empty() ? std::string("the directory's own") : manifest.value().catalog) +
                      "; this one is " + (catalog_->identity().empty() ? std::string("the directory's own") : catalog_->identity()) + ")";
        } else if (manifest.value().shard != options_.shard.text()) {
            problem = "snapshot of shard " + manifest.value().shard + ", this store is shard " + options_.shard.text();
        } else if (manifest.value().max_id > catalog_max) {
            problem = "snapshot covers catalog rows up to " + std::to_string(manifest.value().max_id) + ", the catalog ends at " +
                      std::to_string(catalog_max);
        } else {
            std::vector<std::shared_ptr<const Vocabulary>> vocabularies;
            for (const SegmentFiles& files : manifest.value().segments) {
                std::shared_ptr<const Segment> segment;
                try {
                    for (const auto& [name, sha] : files.files())
                        if (!sha.empty() && sha256_file(dir_ / name) != sha) throw StoreError(name + " does not match its checksum");
                    auto s = std::make_shared<Segment>(options_.descriptors, options_.embeddings);
                    s->first_id = files.first_id;
                    s->last_id = files.last_id;
                    s->pdq = PdqIndex::load(dir_ / files.pdq, options_.pdq_table_rows);
                    s->descriptors = DescriptorIndex::load(dir_ / files.descriptors, options_.descriptors);
                    if (files.vocabulary_groups > 0) s->descriptors.attach_vocabulary(files.vocabulary_groups, vocabularies);
                    if (!files.embeddings.empty()) s->embeddings = EmbeddingIndex::load(dir_ / files.embeddings, options_.embeddings);
                    s->rows = s->pdq.size();
                    for (const auto& [name, sha] : files.files())
                        if (!sha.empty()) file_checksums_[name] = sha;
                    segment = std::move(s);
                } catch (const std::exception& e) {
                    spdlog::warn("index {}: segment of catalog rows {}..{} is damaged ({}); rebuilding it from the catalog", dir_.string(),
                                 files.first_id, files.last_id, e.what());
                    segment = build_segment(files.first_id - 1, files.last_id, expected_descriptors(files.first_id - 1, files.last_id));
                    ++rebuilt;
                }
                view->segments.push_back(std::move(segment));
            }
            view->max_id = manifest.value().max_id;
            // The largest vocabulary loaded files what comes next.
            for (const auto& v : vocabularies)
                if (!vocabulary_.load() || v->groups() > vocabulary_.load()->groups()) vocabulary_.store(v);
            loaded = true;
            if (rebuilt > 0) problem = std::to_string(rebuilt) + " damaged segment(s) rebuilt from the catalog";
        }
    }
    if (!loaded) {
        view = std::make_shared<IndexView>();
        vocabulary_.store(nullptr);
        file_checksums_.clear();
        if (!problem.empty()) spdlog::warn("index {}: snapshot not used ({}); rebuilding the indexes from the catalog", dir_.string(), problem);
    }
    const std::int64_t before = view->max_id;
    const std::int64_t last = catalog_->max_id();
    if (last > before) {
        view->segments.push_back(build_segment(before, last, expected_descriptors(before, last)));
        view->max_id = last;
    }
    view->inactive = tombstones();
    view_.store(std::move(view));
    open_stats_.loaded_from_snapshot = loaded;
    open_stats_.caught_up = last > before ? last - before : 0;
    open_stats_.segments_rebuilt = rebuilt;
    open_stats_.snapshot_problem = problem;
}

void Store::publish(const std::vector<std::int64_t>& ids, const std::vector<const Signature*>& signatures,
                    const std::vector<std::int64_t>& deactivated, std::int64_t covered_upto) {
    const auto current = view_.load();
    auto next = std::make_shared<IndexView>(*current);
    if (!deactivated.empty()) {
        auto inactive = std::make_shared<std::unordered_set<std::int64_t>>(*current->inactive);
        inactive->insert(deactivated.begin(), deactivated.end());
        next->inactive = std::move(inactive);
    }
    bool closed = false;
    for (std::size_t i = 0; i < ids.size();) {
        // The open tail is copied (it is small) and the copy takes the rows; searches keep the old one.
        std::shared_ptr<Segment> tail;
        if (!next->segments.empty() && next->segments.back().get() == open_tail_) {
            tail = next->segments.back()->copy();
            next->segments.back() = tail;
        } else {
            tail = std::make_shared<Segment>(options_.descriptors, options_.embeddings);
            if (auto vocabulary = vocabulary_.load()) tail->descriptors.organise(std::move(vocabulary));
            tail->first_id = next->max_id + 1;
            tail->last_id = next->max_id;
            next->segments.push_back(tail);
        }
        for (; i < ids.size() && tail->rows < options_.tail_rows; ++i) {
            tail->pdq.add(ids[i], signatures[i]->pdq.hash);
            tail->descriptors.add(ids[i], signatures[i]->features);
            if (!signatures[i]->embedding.empty()) tail->embeddings.add(ids[i], signatures[i]->embedding);
            tail->last_id = ids[i];
            ++tail->rows;
            next->max_id = std::max(next->max_id, ids[i]);
        }
        open_tail_ = tail->rows < options_.tail_rows ? tail.get() : nullptr;
        closed = closed || open_tail_ == nullptr;
    }
    next->max_id = std::max(next->max_id, covered_upto);
    view_.store(std::move(next));
    if (closed) request_merge();
}

void Store::catch_up_rows_locked(std::int64_t upto) {
    const std::int64_t from = view_.load()->max_id;
    if (upto <= from) return;
    // Published a few thousand rows at a time: a process far behind (a large backfill elsewhere) never holds
    // all their signatures at once.
    constexpr std::size_t kChunk = 2048;
    std::vector<std::int64_t> ids, inactive;
    std::vector<Signature> signatures;
    const auto flush = [&](std::int64_t covered) {
        std::vector<const Signature*> pointers;
        for (const auto& s : signatures) pointers.push_back(&s);
        publish(ids, pointers, inactive, covered);
        followed_ += static_cast<std::int64_t>(ids.size());
        ids.clear();
        inactive.clear();
        signatures.clear();
    };
    catalog_->scan(from, upto, [&](std::int64_t id, bool active, std::span<const std::uint8_t> bytes) {
        ids.push_back(id);
        signatures.push_back(detail::decode_signature_or_throw(id, bytes));
        if (!active) inactive.push_back(id);  // indexed and deleted at once, so the id range stays whole
        if (ids.size() == kChunk) flush(id);
    }, options_.shard);
    flush(upto);  // other shards' rows up to `upto` are accounted for too
}

std::shared_ptr<std::unordered_set<std::int64_t>> Store::tombstones() const {
    auto out = std::make_shared<std::unordered_set<std::int64_t>>();
    for (std::int64_t id : catalog_->inactive_ids(options_.shard)) out->insert(id);
    return out;
}

void Store::rebuild_locked() {
    const std::size_t descriptors = view_.load()->descriptor_entries();
    auto next = std::make_shared<IndexView>();
    next->max_id = catalog_->max_id();
    next->segments = {build_segment(0, next->max_id, descriptors)};
    next->inactive = tombstones();
    open_tail_ = nullptr;
    view_.store(std::move(next));
}

void Store::follow_locked() {
    constexpr std::size_t kPage = 4096;
    // Another process compacted: rows it purged may have been deleted before this one saw it, and the
    // indexes hold every purged id. Rebuilt from the catalog as compact() does (writes here wait meanwhile).
    const std::int64_t cursor = catalog_->last_change();
    if (const std::int64_t generation = catalog_->generation(); generation != generation_) {
        spdlog::info("index {}: the catalog was compacted elsewhere (generation {} -> {}); rebuilding the indexes", dir_.string(),
                     generation_, generation);
        rebuild_locked();
        generation_ = generation;
        change_cursor_ = cursor;
        return;
    }
    for (;;) {
        const auto changes = catalog_->changes_after(change_cursor_, kPage, options_.shard);
        if (changes.empty()) return;
        std::int64_t newest = 0;
        for (const auto& c : changes) newest = std::max(newest, c.id);
        const std::int64_t known = view_.load()->max_id;
        catch_up_rows_locked(newest);  // new rows, with their state as of now
        std::vector<std::int64_t> deleted;
        const auto view = view_.load();
        for (const auto& c : changes)
            if (!c.active && c.id <= known && view->active(c.id)) deleted.push_back(c.id);
        if (!deleted.empty()) {
            publish({}, {}, deleted);
            followed_ += static_cast<std::int64_t>(deleted.size());
        }
        change_cursor_ = changes.back().change;
        if (changes.size() < kPage) return;
    }
}

void Store::follow_loop(std::stop_token stop) {
    while (!stop.stop_requested()) {
        try {
            catalog_->wait_for_changes(options_.follow_interval);
            if (stop.stop_requested()) return;
            std::lock_guard writer(write_mutex_);
            follow_locked();
        } catch (const std::exception& e) {
            // The catalog is away (a restart, a network cut): searches go on over the current view.
            spdlog::warn("index {}: cannot follow the catalog {} ({}); retrying", dir_.string(), catalog_->describe(), e.what());
            std::mutex m;
            std::unique_lock lock(m);
            std::condition_variable_any().wait_for(lock, stop, options_.follow_interval, [] { return false; });
        }
    }
}

void Store::request_merge() {
    {
        std::lock_guard lock(merge_mutex_);
        merge_pending_ = true;
        merge_idle_ = false;
    }
    merge_wanted_.notify_one();
}

// Level of a closed segment: 0 up to tail_rows, then one more for each factor of merge_fanout.
static int merge_level(std::size_t rows, std::size_t tail_rows, std::size_t fanout) {
    int level = 0;
    for (std::size_t cap = tail_rows; rows > cap; cap *= fanout) ++level;
    return level;
}

bool Store::merge_once(const std::stop_token& stop) {
    // Pick the newest run of `fanout` closed segments of one level (the open tail is not merged).
    std::vector<std::shared_ptr<const Segment>> run;
    {
        std::lock_guard writer(write_mutex_);
        const auto view = view_.load();
        const auto& segs = view->segments;
        std::size_t end = segs.size();
        if (end > 0 && segs.back().get() == open_tail_) --end;
        for (std::size_t i = end; i >= options_.merge_fanout; --i) {
            const int level = merge_level(segs[i - 1]->rows, options_.tail_rows, options_.merge_fanout);
            std::size_t j = i;
            while (j > 0 && i - j < options_.merge_fanout &&
                   merge_level(segs[j - 1]->rows, options_.tail_rows, options_.merge_fanout) == level)
                --j;
            if (i - j == options_.merge_fanout) {
                run.assign(segs.begin() + static_cast<std::ptrdiff_t>(j), segs.begin() + static_cast<std::ptrdiff_t>(i));
                break;
            }
        }
    }
    if (run.empty() || stop.stop_requested()) return false;
    // Built from the catalog without any lock: writers go on adding to the open tail meanwhile.
    std::size_t descriptors = 0;
    for (const auto& s : run) descriptors += s->descriptors.size();
    const auto merged = build_segment(run.front()->first_id - 1, run.back()->last_id, descriptors, stop);
    if (!merged) return false;  // stopped
    std::lock_guard writer(write_mutex_);
    const auto current = view_.load();
    auto& segs = current->segments;
    const auto at = std::search(segs.begin(), segs.end(), run.begin(), run.end());
    if (at == segs.end()) return true;  // optimise or compact replaced them meanwhile
    auto next = std::make_shared<IndexView>(*current);
    const auto offset = at - segs.begin();
    next->segments.erase(next->segments.begin() + offset, next->segments.begin() + offset + static_cast<std::ptrdiff_t>(run.size()));
    next->segments.insert(next->segments.begin() + offset, merged);
    view_.store(std::move(next));
    merges_.fetch_add(1);
    return true;
}

void Store::merge_loop(std::stop_token stop) {
    while (!stop.stop_requested()) {
        try {
            while (merge_once(stop)) {
            }
        } catch (const std::exception& e) {
            // A merge that fails (catalog unreadable) leaves the segments as they are; searches stay correct.
            spdlog::warn("index {}: background merge failed, segments left as they are: {}", dir_.string(), e.what());
        }
        std::unique_lock lock(merge_mutex_);
        if (!merge_pending_) {
            merge_idle_ = true;
            merge_idle_changed_.notify_all();
        }
        merge_wanted_.wait(lock, stop, [this] { return merge_pending_; });
        merge_pending_ = false;
    }
}

bool Store::wait_until_merged(std::chrono::milliseconds timeout) const {
    if (!merger_.joinable()) return true;
    std::unique_lock lock(merge_mutex_);
    return merge_idle_changed_.wait_for(lock, timeout, [this] { return merge_idle_ && !merge_pending_; });
}

AddStatus Store::plan(const std::string& key, const Sha256& sha, bool replace) const {
    const auto existing = catalog_->find_active(key);
    if (!existing) return AddStatus::added;
    if (existing->sha256 == sha) return AddStatus::unchanged;
    return replace ? AddStatus::replaced : AddStatus::conflict;
}

Result<PreparedAdd> Store::prepare(const std::string& key, std::span<const std::uint8_t> bytes, const Sha256& sha,
                                   const Labels& labels, bool replace) const {
    if (const auto why = invalid_key_reason(key)) return make_error(ErrorCode::invalid_key, *why);
    auto decoded = decode_image(bytes, extractor_.options().decode);
    if (!decoded) return decoded.error();
    const DecodedImage& d = decoded.value();
    PreparedAdd p;
    p.signature = extractor_.compute(d.bgr, d.width, d.height);
    p.entry.thumbnail = encode_thumbnail(d.bgr);  // from the decode the signature used (no second decode)
    p.entry.key = key;
    p.entry.labels = labels;
    p.entry.sha256 = sha;
    p.entry.width = p.signature.width;
    p.entry.height = p.signature.height;
    p.entry.signature = serialize(p.signature);
    p.entry.replace = replace;
    return p;
}

Sha256 Store::hash_identity(const PdqHash& pdq) {
    const std::string hex = pdq.hash.to_hex();  // a fixed, endian-free byte form of the hash
    return sha256_of(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(hex.data()), hex.size()));
}

Result<PreparedAdd> Store::prepare_hash(const std::string& key, const PdqHash& pdq, const Labels& labels, bool replace,
                                        std::string source) const {
    if (const auto why = invalid_key_reason(key)) return make_error(ErrorCode::invalid_key, *why);
    PreparedAdd p;
    p.signature.pdq = pdq;  // width and height stay 0: hash-only
    p.entry.key = key;
    p.entry.labels = labels;
    p.entry.sha256 = hash_identity(pdq);
    p.entry.source = std::move(source);
    p.entry.signature = serialize(p.signature);
    p.entry.replace = replace;
    return p;
}

std::vector<std::int64_t> Store::commit(std::vector<PreparedAdd> adds) {
    if (adds.empty()) return {};
    require_writable("add references");
    std::lock_guard writer(write_mutex_);
    std::vector<NewEntry> entries;
    entries.reserve(adds.size());
    for (auto& a : adds) entries.push_back(std::move(a.entry));
    // Ids of the rows a replace deactivates, so they leave search together with the commit.
    std::vector<std::int64_t> replaced;
    for (const auto& e : entries)
        if (e.replace)
            if (auto old = catalog_->find_active(e.key)) replaced.push_back(old->id);
    const auto ids = catalog_->insert(entries);  // durable from here on
    if (!options_.load_indexes) return ids;
    // Rows other processes committed before these go first: a segment covers an id range, all of it.
    if (catalog_->shared() && !ids.empty()) {
        try {
            catch_up_rows_locked(ids.front() - 1);
        } catch (const std::exception& e) {
            // The rows are durable: the follower indexes them (and these) once it can read the catalog again.
            spdlog::warn("index {}: cannot read the rows committed before ids {}.. ({}); the follower will index them", dir_.string(),
                         ids.front(), e.what());
            return ids;
        }
    }
    std::vector<std::int64_t> owned;
    std::vector<const Signature*> signatures;
    signatures.reserve(adds.size());
    for (std::size_t i = 0; i < adds.size(); ++i)
        if (options_.shard.owns(entries[i].key)) {  // another shard's key: in the catalog, for that shard to follow
            owned.push_back(ids[i]);
            signatures.push_back(&adds[i].signature);
        }
    publish(owned, signatures, replaced, ids.empty() ? 0 : *std::max_element(ids.begin(), ids.end()));
    return ids;
}

std::vector<AddStatus> Store::commit_resolving(std::vector<PreparedAdd> adds) {
    std::vector<AddStatus> statuses;
    statuses.reserve(adds.size());
    for (const auto& a : adds) statuses.push_back(a.entry.replace ? AddStatus::replaced : AddStatus::added);
    std::vector<PreparedAdd> kept;  // a copy for the one-by-one pass: commit() takes the batch
    kept.reserve(adds.size());
    for (const auto& a : adds) kept.push_back(a);
    try {
        commit(std::move(adds));
        return statuses;
    } catch (const KeyConflict&) {
        // Nothing of the batch was written; find which keys another writer took, one at a time.
    }
    for (std::size_t i = 0; i < kept.size(); ++i) {
        const std::string key = kept[i].entry.key;
        const Sha256 sha = kept[i].entry.sha256;
        const bool replace = kept[i].entry.replace;
        std::vector<PreparedAdd> one;
        one.push_back(std::move(kept[i]));
        try {
            commit(std::move(one));
        } catch (const KeyConflict&) {
            const AddStatus now = plan(key, sha, replace);
            if (now != AddStatus::unchanged && now != AddStatus::conflict) throw;  // the row that conflicted is gone again
            statuses[i] = now;
        }
    }
    return statuses;
}

Result<AddStatus> Store::add(const std::string& key, std::span<const std::uint8_t> bytes, const Labels& labels, bool replace) {
    if (const auto why = invalid_key_reason(key)) return make_error(ErrorCode::invalid_key, *why);
    if (bytes.empty()) return make_error(ErrorCode::empty_input, "empty input: 0 bytes");
    const Sha256 sha = sha256_of(bytes);
    const AddStatus status = plan(key, sha, replace);
    if (status == AddStatus::unchanged || status == AddStatus::conflict) return status;
    auto prepared = prepare(key, bytes, sha, labels, status == AddStatus::replaced);
    if (!prepared) return prepared.error();
    std::vector<PreparedAdd> one;
    one.push_back(std::move(prepared).value());
    try {
        commit(std::move(one));
    } catch (const KeyConflict&) {
        // Another process sharing the catalog added the key since plan(): what it added decides.
        const AddStatus now = plan(key, sha, replace);
        if (now == AddStatus::unchanged || now == AddStatus::conflict) return now;
        throw;
    }
    return status;
}

std::vector<std::uint8_t> Store::encode_thumbnail(const cv::Mat& bgr) {
    std::vector<std::uint8_t> jpeg;
    cv::imencode(".jpg", downscale_to(bgr, kThumbnailLongSide), jpeg, {cv::IMWRITE_JPEG_QUALITY, 80});
    return jpeg;
}

Result<std::vector<std::uint8_t>> Store::make_thumbnail(std::span<const std::uint8_t> bytes) const {
    auto decoded = decode_image(bytes, extractor_.options().decode);
    if (!decoded) return decoded.error();
    return encode_thumbnail(decoded.value().bgr);
}

std::vector<CatalogEntry> Store::missing_thumbnails(std::int64_t after_id, std::size_t limit) const {
    require_writable("backfill thumbnails");
    return catalog_->without_thumbnail(after_id, limit);
}

void Store::set_thumbnail(std::int64_t id, std::span<const std::uint8_t> jpeg) {
    require_writable("store thumbnails");
    catalog_->set_thumbnail(id, jpeg);
}

std::optional<std::vector<std::uint8_t>> Store::thumbnail(const std::string& key) const {
    const auto entry = catalog_->find_active(key);
    if (!entry) return std::nullopt;
    return catalog_->thumbnail(entry->id);
}

std::vector<CatalogEntry> Store::list(const std::string& after_key, const std::string& prefix, const Labels& labels, std::size_t limit,
                                      std::string* next) const {
    return catalog_->list_active(after_key, prefix, labels, limit, 100'000, next);
}

std::vector<PdqMatch> Store::search_pdq(const Hash256& hash, const PdqSearchOptions& options) const {
    const auto view = searchable_view();
    return searcher_->search_pdq(*view, hash, options);
}

void Store::for_each_active(const std::function<void(const CatalogEntry&, const Signature&)>& fn) const {
    catalog_->scan_active([&](const CatalogEntry& entry, std::span<const std::uint8_t> signature) {
        fn(entry, detail::decode_signature_or_throw(entry.id, signature));
    });
}

bool Store::remove(const std::string& key) {
    require_writable("delete references");
    std::lock_guard writer(write_mutex_);
    const auto id = catalog_->deactivate(key);
    if (!id) return false;
    if (!options_.load_indexes) return true;
    publish({}, {}, {*id});
    return true;
}

std::optional<CatalogEntry> Store::get(const std::string& key) const { return catalog_->find_active(key); }

std::optional<Signature> Store::signature(const std::string& key) const {
    const auto entry = catalog_->find_active(key);
    if (!entry) return std::nullopt;
    return detail::decode_signature_or_throw(entry->id, catalog_->signature(entry->id));
}

Result<std::vector<SearchHit>> Store::search(std::span<const std::uint8_t> bytes, const SearchOptions& options,
                                             SearchTrace* trace) const {
    SearchTrace local;
    SearchTrace& t = trace ? *trace : local;
    Sha256 sha{};
    std::shared_ptr<const QuerySignatures> cached;
    if (query_cache_) {
        sha = sha256_of(bytes);
        cached = query_cache_->find(sha);
    }
    QuerySignatures signatures = cached ? *cached : QuerySignatures{};
    t.cached = cached != nullptr;
    // Decoded only when a signature is missing: never for a cached query that matched, and for a cached
    // one that did not only if its regions were not computed yet.
    std::optional<Result<DecodedImage>> decoded;
    const auto pixels = [&]() -> const DecodedImage* {
        if (!decoded) {
            const auto started = std::chrono::steady_clock::now();
            decoded.emplace(extractor_.decode_query(bytes));
            t.decode += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        }
        return *decoded ? &decoded->value() : nullptr;
    };
    if (!signatures.whole && !pixels()) return decoded->error();
    const auto view = searchable_view();  // one view for the whole query and its regions
    auto hits = searcher_->search_signatures(*view, signatures, pixels, options, t);
    if (decoded && !*decoded) return decoded->error();
    if (query_cache_ && (!cached || (signatures.regions.has_value() && !cached->regions.has_value())))
        query_cache_->put(sha, std::make_shared<const QuerySignatures>(std::move(signatures)));
    return hits;
}

QueryCacheStats Store::query_cache_stats() const { return query_cache_ ? query_cache_->stats() : QueryCacheStats{}; }

std::vector<SearchHit> Store::search_image(const DecodedImage& image, const SearchOptions& options, SearchTrace* trace) const {
    const auto view = searchable_view();  // one view for the whole query and its regions
    return searcher_->search_image(*view, image, options, trace);
}

std::vector<SearchHit> Store::search(const QuerySignature& query, const SearchOptions& options, SearchTrace* trace) const {
    const auto view = searchable_view();
    return searcher_->search(*view, query, options, trace);
}

void Store::optimise() {
    if (!options_.load_indexes) return;
    std::lock_guard writer(write_mutex_);
    const auto current = view_.load();
    if (current->segments.empty()) return;
    if (current->segments.size() == 1 && current->segments.front().get() != open_tail_) {
        // One closed segment already: done when it is filed under a vocabulary sized for it (or too small
        // for one); otherwise rebuilt below, under the store's vocabulary or a larger one trained on it.
        const auto& only = current->segments.front()->descriptors;
        const auto& vocabulary = only.vocabulary();
        if (only.size() < options_.descriptors.ivf_threshold || (vocabulary && vocabulary->groups() >= Vocabulary::groups_for(only.size())))
            return;
    }
    auto next = std::make_shared<IndexView>(*current);
    next->segments = {build_segment(0, current->max_id, current->descriptor_entries())};
    open_tail_ = nullptr;
    view_.store(std::move(next));
}

void Store::save_snapshot() {
    require_writable("save a snapshot");
    if (!options_.load_indexes) return;  // nothing derived here
    std::lock_guard writer(write_mutex_);
    const auto view = view_.load();
    SnapshotManifest manifest;
    manifest.generation = generation_;
    manifest.shard = options_.shard.text();
    manifest.catalog = catalog_->identity();
    manifest.max_id = view->max_id;
    // A segment never changes once published, so its files are named by what it holds and written once: a
    // snapshot writes only the files not already on disk with a known checksum.
    std::unordered_set<std::string> keep;
    std::vector<std::string> written;  // removed again if the snapshot fails: the directory stays as it was
    try {
    for (const auto& segment : view->segments) {
        const std::string stem = "seg-" + std::to_string(manifest.generation) + "-" + std::to_string(segment->first_id) + "-" +
                                 std::to_string(segment->last_id) + "-" + std::to_string(segment->rows) + "-" +
                                 std::to_string(segment->descriptors.size());
        SegmentFiles files{segment->first_id, segment->last_id, stem + ".pdq.faiss", stem + ".desc.faiss", {}, {}, 0, {}, {}};
        if (const auto& vocabulary = segment->descriptors.vocabulary()) files.vocabulary_groups = vocabulary->groups();
        const auto durable = [&](const std::string& name, const std::function<void(faiss::IOWriter&)>& write) {
            auto it = file_checksums_.find(name);
            if (it == file_checksums_.end()) {
                it = file_checksums_.emplace(name, write_file_durably(dir_, name, write)).first;
                written.push_back(name);
            }
            return it->second;
        };
        files.pdq_sha256 = durable(files.pdq, [&](faiss::IOWriter& out) { segment->pdq.save(out); });
        files.descriptors_sha256 = durable(files.descriptors, [&](faiss::IOWriter& out) { segment->descriptors.save(out); });
        if (segment->embeddings.size() > 0) {
            files.embeddings = stem + ".emb.faiss";
            files.embeddings_sha256 = durable(files.embeddings, [&](faiss::IOWriter& out) { segment->embeddings.save(out); });
        }
        for (const auto& [name, sha] : files.files()) keep.insert(name);
        manifest.segments.push_back(std::move(files));
    }
    // The rename of snapshot.json is the commit point; segment files no longer named are removed after it.
    write_file_durably(dir_, kSnapshotFile, format_snapshot_manifest(manifest));
    } catch (const StoreError&) {
        std::error_code ignored;
        for (const auto& name : written) {
            std::filesystem::remove(dir_ / name, ignored);
            file_checksums_.erase(name);
        }
        throw;
    }
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(dir_, ec)) {
        const std::string name = f.path().filename().string();
        if ((name.ends_with(".faiss") || name.ends_with(".faiss.tmp")) && !keep.contains(name)) {
            std::filesystem::remove(f.path(), ec);
            file_checksums_.erase(name);
        }
    }
}

std::shared_ptr<const IndexView> Store::searchable_view() const {
    if (!options_.load_indexes) throw StoreError("cannot search " + dir_.string() + ": the store was opened without indexes (catalog writes only)");
    return view_.load();
}

std::int64_t Store::compact() {
    require_writable("compact");
    if (!options_.load_indexes) return catalog_->purge_inactive();  // the serving processes follow it and rebuild
    std::int64_t removed = 0;
    {
        std::lock_guard writer(write_mutex_);
        removed = catalog_->purge_inactive();
        generation_ = catalog_->generation();
        rebuild_locked();
    }
    save_snapshot();
    return removed;
}

StoreStats Store::stats() const {
    StoreStats s = index_stats();
    s.active = catalog_->active_count();
    s.generation = catalog_->generation();
    return s;
}

StoreStats Store::index_stats() const {
    StoreStats s = open_stats_;
    const auto view = view_.load();
    s.inactive = static_cast<std::int64_t>(view->inactive->size());
    s.pdq_entries = view->pdq_entries();
    s.descriptor_entries = view->descriptor_entries();
    s.embedding_entries = view->embedding_entries();
    s.embedder = embedder_;
    s.segments = view->segments.size();
    s.merges = merges_.load();
    s.followed = followed_.load();
    if (const auto vocabulary = vocabulary_.load()) s.vocabulary_words = vocabulary->size();
    return s;
}

CheckReport Store::check() const {
    constexpr std::size_t kMaxListed = 100;  // per list; a damaged index can disagree on every row
    CheckReport report;
    const auto note = [&](std::vector<std::string>& list, std::string what) {
        if (list.size() < kMaxListed) list.push_back(std::move(what));
        else if (list.size() == kMaxListed) list.push_back("... (more problems not listed)");
    };
    try {
        report.catalog = catalog_->integrity_problems(false);
    } catch (const StoreError& e) {
        report.catalog.push_back(e.what());
    }
    const auto snapshot_path = dir_ / kSnapshotFile;
    std::error_code ec;
    if (std::filesystem::exists(snapshot_path, ec)) {
        const auto manifest = parse_snapshot_manifest(read_text_file(snapshot_path));
        if (!manifest) {
            note(report.snapshot, manifest.error().message);
        } else if (manifest.value().generation == catalog_->generation()) {
            for (const SegmentFiles& files : manifest.value().segments)
                for (const auto& [name, sha] : files.files()) {
                    if (!std::filesystem::exists(dir_ / name, ec)) note(report.snapshot, name + " is missing");
                    else if (!sha.empty() && sha256_file(dir_ / name) != sha) note(report.snapshot, name + " does not match its checksum");
                }
        }
    }
    const auto view = view_.load();
    std::unordered_map<std::int64_t, int> in_pdq, in_descriptors, in_embeddings;
    for (const auto& segment : view->segments) {
        for (const auto id : segment->pdq.ids()) ++in_pdq[id];
        for (const auto id : segment->embeddings.ids()) ++in_embeddings[id];
        for (const auto& [id, n] : segment->descriptors.per_reference_counts()) in_descriptors[id] += n;
    }
    std::unordered_set<std::int64_t> rows;
    catalog_->scan(0, view->max_id, [&](std::int64_t id, bool active, std::span<const std::uint8_t> bytes) {
        ++report.rows_checked;
        rows.insert(id);
        if (!active) return;  // a deleted row may still be indexed, as a tombstone, until compaction
        const std::string row = "catalog row " + std::to_string(id);
        const auto signature = deserialize_signature(bytes);
        if (!signature) return note(report.indexes, row + ": its signature cannot be read (" + signature.error().message + ")");
        const auto found = in_pdq.find(id);
        if (found == in_pdq.end()) return note(report.indexes, row + " is not in the PDQ index");
        if (found->second != 1) note(report.indexes, row + " is in the PDQ index " + std::to_string(found->second) + " times");
        const auto& features = signature.value().features;
        const int expected = descriptor_bytes(features.kind) == 32
                                 ? static_cast<int>(std::min<std::size_t>(features.size(), static_cast<std::size_t>(options_.descriptors.per_reference)))
                                 : 0;
        const auto d = in_descriptors.find(id);
        const int have = d == in_descriptors.end() ? 0 : d->second;
        if (have != expected)
            note(report.indexes, row + " has " + std::to_string(have) + " descriptors indexed, its signature " + std::to_string(expected));
        const auto e = in_embeddings.find(id);
        const int embedded = e == in_embeddings.end() ? 0 : e->second;
        if (embedded != (signature.value().embedding.empty() ? 0 : 1))
            note(report.indexes, row + " is in the embedding index " + std::to_string(embedded) + " times, its signature has " +
                                     (signature.value().embedding.empty() ? "no embedding" : "one"));
    }, options_.shard);
    for (const auto& [id, n] : in_pdq)
        if (!rows.contains(id)) note(report.indexes, "the PDQ index holds id " + std::to_string(id) + ", which the catalog does not");
    for (const auto& [id, n] : in_embeddings)
        if (!rows.contains(id)) note(report.indexes, "the embedding index holds id " + std::to_string(id) + ", which the catalog does not");
    return report;
}

}  // namespace neardup::store
