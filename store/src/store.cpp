#include "neardup/store/store.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <unordered_set>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "neardup/engine/regions.hpp"
#include "neardup/engine/signature_codec.hpp"
#include "neardup/store/key.hpp"

namespace neardup::store {
namespace {

constexpr const char* kCatalogFile = "catalog.sqlite";
constexpr const char* kSnapshotFile = "snapshot.json";

Signature decode_signature_or_throw(std::int64_t id, std::span<const std::uint8_t> bytes) {
    auto s = deserialize_signature(bytes);
    if (!s) throw StoreError("catalog row " + std::to_string(id) + ": " + s.error().message);
    return std::move(s).value();
}

// Results order: score, then key so that equal scores list in a stable order.
bool best_first(const SearchHit& a, const SearchHit& b) { return a.score != b.score ? a.score > b.score : a.key < b.key; }

bool has_labels(const Labels& have, const Labels& want) {
    for (const auto& [name, value] : want) {
        const auto it = have.find(name);
        if (it == have.end() || it->second != value) return false;
    }
    return true;
}

}  // namespace

Sha256 sha256_of(std::span<const std::uint8_t> bytes) {
    Sha256 out{};
    unsigned int n = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), out.data(), &n, EVP_sha256(), nullptr) != 1 || n != out.size())
        throw std::runtime_error("SHA-256 failed");
    return out;
}

Store::Store(const std::filesystem::path& dir, StoreOptions options)
    : dir_(dir), options_(std::move(options)), extractor_(options_.signature) {
    if (options_.tail_rows < 1 || options_.merge_fanout < 2)
        throw std::invalid_argument("StoreOptions: tail_rows must be >= 1 and merge_fanout >= 2");
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) throw StoreError("cannot create index directory " + dir_.string() + ": " + ec.message());
    catalog_ = std::make_unique<Catalog>(dir_ / kCatalogFile);
    load_snapshot();
    if (options_.background_merges) {
        merger_ = std::jthread([this](std::stop_token stop) { merge_loop(stop); });
        request_merge();  // segments loaded from a snapshot may be due
    }
}

Store::~Store() {
    merger_.request_stop();  // wakes the merger and stops a merge under way; the jthread joins it
}

std::shared_ptr<const Segment> Store::build_segment(std::int64_t after_id, std::int64_t last_id, bool organise,
                                                    const std::stop_token& stop) const {
    struct Stopped {};
    auto segment = std::make_shared<Segment>(options_.descriptors);
    segment->first_id = after_id + 1;
    segment->last_id = last_id;
    try {
        catalog_->scan(after_id, last_id, [&](std::int64_t id, bool active, std::span<const std::uint8_t> bytes) {
            if (stop.stop_requested()) throw Stopped{};
            if (!active) return;  // deleted before the build: nothing to find
            const Signature signature = decode_signature_or_throw(id, bytes);
            segment->pdq.add(id, signature.pdq.hash);
            segment->descriptors.add(id, signature.features);
            ++segment->rows;
        });
    } catch (const Stopped&) {
        return nullptr;
    }
    if (organise) segment->descriptors.optimise();
    return segment;
}

// The snapshot is only a head start: anything it lacks is read from the catalog, and a snapshot from another
// generation (before a compaction) or one that fails to load is ignored.
void Store::load_snapshot() {
    auto view = std::make_shared<IndexView>();
    const auto snapshot_path = dir_ / kSnapshotFile;
    bool loaded = false;
    if (std::filesystem::exists(snapshot_path)) {
        try {
            std::ifstream in(snapshot_path);
            const auto meta = nlohmann::json::parse(in);
            const std::int64_t max_id = meta.at("max_id").get<std::int64_t>();
            if (meta.at("generation").get<std::int64_t>() == catalog_->generation() && max_id <= catalog_->max_id()) {
                std::vector<nlohmann::json> entries;
                if (meta.at("format").get<int>() == 1)  // one pair of index files for every row
                    entries.push_back({{"first_id", 1}, {"last_id", max_id}, {"pdq", meta.at("pdq")},
                                       {"descriptors", meta.at("descriptors")}});
                else
                    for (const auto& e : meta.at("segments")) entries.push_back(e);
                for (const auto& e : entries) {
                    auto segment = std::make_shared<Segment>(options_.descriptors);
                    segment->first_id = e.at("first_id").get<std::int64_t>();
                    segment->last_id = e.at("last_id").get<std::int64_t>();
                    segment->pdq = PdqIndex::load(dir_ / e.at("pdq").get<std::string>());
                    segment->descriptors = DescriptorIndex::load(dir_ / e.at("descriptors").get<std::string>(), options_.descriptors);
                    segment->rows = segment->pdq.size();
                    view->segments.push_back(std::move(segment));
                }
                view->max_id = max_id;
                loaded = true;
            }
        } catch (const std::exception&) {
            loaded = false;
        }
    }
    if (!loaded) view = std::make_shared<IndexView>();
    const std::int64_t before = view->max_id;
    const std::int64_t last = catalog_->max_id();
    if (last > before) {
        view->segments.push_back(build_segment(before, last, true));
        view->max_id = last;
    }
    auto inactive = std::make_shared<std::unordered_set<std::int64_t>>();
    for (std::int64_t id : catalog_->inactive_ids()) inactive->insert(id);
    view->inactive = std::move(inactive);
    view_.store(std::move(view));
    open_stats_.loaded_from_snapshot = loaded;
    open_stats_.caught_up = last > before ? last - before : 0;
}

void Store::publish(const std::vector<std::int64_t>& ids, const std::vector<const Signature*>& signatures,
                    const std::vector<std::int64_t>& deactivated) {
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
            tail = std::make_shared<Segment>(options_.descriptors);
            tail->first_id = next->max_id + 1;
            tail->last_id = next->max_id;
            next->segments.push_back(tail);
        }
        for (; i < ids.size() && tail->rows < options_.tail_rows; ++i) {
            tail->pdq.add(ids[i], signatures[i]->pdq.hash);
            tail->descriptors.add(ids[i], signatures[i]->features);
            tail->last_id = ids[i];
            ++tail->rows;
            next->max_id = std::max(next->max_id, ids[i]);
        }
        open_tail_ = tail->rows < options_.tail_rows ? tail.get() : nullptr;
        closed = closed || open_tail_ == nullptr;
    }
    view_.store(std::move(next));
    if (closed) request_merge();
}

void Store::request_merge() {
    {
        std::lock_guard lock(merge_mutex_);
        merge_pending_ = true;
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
    const auto merged = build_segment(run.front()->first_id - 1, run.back()->last_id, true, stop);
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
        } catch (const std::exception&) {
            // A merge that fails (catalog unreadable) leaves the segments as they are; searches stay correct.
        }
        std::unique_lock lock(merge_mutex_);
        merge_wanted_.wait(lock, stop, [this] { return merge_pending_; });
        merge_pending_ = false;
    }
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
    auto signature = extractor_.compute(bytes);
    if (!signature) return signature.error();
    PreparedAdd p;
    p.signature = std::move(signature).value();
    p.entry.key = key;
    p.entry.labels = labels;
    p.entry.sha256 = sha;
    p.entry.width = p.signature.width;
    p.entry.height = p.signature.height;
    p.entry.signature = serialize(p.signature);
    p.entry.replace = replace;
    return p;
}

std::vector<std::int64_t> Store::commit(std::vector<PreparedAdd> adds) {
    if (adds.empty()) return {};
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
    std::vector<const Signature*> signatures;
    signatures.reserve(adds.size());
    for (const auto& a : adds) signatures.push_back(&a.signature);
    publish(ids, signatures, replaced);
    return ids;
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
    commit(std::move(one));
    return status;
}

bool Store::remove(const std::string& key) {
    std::lock_guard writer(write_mutex_);
    const auto id = catalog_->deactivate(key);
    if (!id) return false;
    publish({}, {}, {*id});
    return true;
}

std::optional<CatalogEntry> Store::get(const std::string& key) const { return catalog_->find_active(key); }

std::optional<Signature> Store::signature(const std::string& key) const {
    const auto entry = catalog_->find_active(key);
    if (!entry) return std::nullopt;
    return decode_signature_or_throw(entry->id, catalog_->signature(entry->id));
}

Result<std::vector<SearchHit>> Store::search(std::span<const std::uint8_t> bytes, const SearchOptions& options) const {
    auto decoded = extractor_.decode_query(bytes);
    if (!decoded) return decoded.error();
    return search_image(decoded.value(), options);
}

std::vector<SearchHit> Store::search_image(const DecodedImage& image, const SearchOptions& options) const {
    // Every candidate of the whole image, so that region results can merge with them before the cut to top.
    SearchOptions all = options;
    all.top = 0;
    std::vector<SearchHit> hits = search(extractor_.compute_query(image.bgr, image.width, image.height), all);
    const double threshold = options.threshold.value_or(options_.match_threshold);
    const bool matched = !hits.empty() && hits.front().score >= threshold;
    if (options_.search_regions && !matched) {
        const double scale = static_cast<double>(image.width) / std::max(1, image.bgr.cols);
        for (const cv::Rect& r : propose_regions(image.bgr)) {
            const cv::Mat crop = image.bgr(r).clone();
            const auto region_hits = search(extractor_.compute_query(crop, static_cast<std::uint32_t>(r.width * scale),
                                                                     static_cast<std::uint32_t>(r.height * scale)), all);
            for (const auto& h : region_hits) {
                auto it = std::find_if(hits.begin(), hits.end(), [&](const SearchHit& x) { return x.id == h.id; });
                if (it == hits.end()) hits.push_back(h);
                else if (h.score > it->score) *it = h;
            }
        }
        std::sort(hits.begin(), hits.end(), best_first);
    }
    if (options.top > 0 && hits.size() > static_cast<std::size_t>(options.top)) hits.resize(options.top);
    return hits;
}

std::vector<SearchHit> Store::search(const QuerySignature& query, const SearchOptions& options) const {
    std::vector<std::int64_t> candidates;
    {
        const auto view = view_.load();
        const auto& variants = query.signature.pdq_dihedral.empty() ? std::vector<Hash256>{query.signature.pdq.hash}
                                                                    : query.signature.pdq_dihedral;
        for (const auto& n : view->pdq_search(variants, options_.pdq_neighbours))
            if (n.distance <= options_.pdq_max_distance) candidates.push_back(n.id);
        // Mirrored descriptors vote only when the direct ones found no clear candidate: half the
        // descriptor search for most queries, and a mirrored copy gets few direct votes.
        const std::size_t limit = options_.vote_candidates * 2;
        std::unordered_map<std::int64_t, int> counts;
        view->add_votes(query.signature.features, options_.descriptors, counts);
        auto votes = view->ranked(counts, limit);
        if (votes.empty() || votes.front().votes < options_.mirror_vote_below) {
            view->add_votes(query.mirrored_features, options_.descriptors, counts);  // the direct ones are counted
            votes = view->ranked(counts, limit);
        }
        std::size_t taken = 0;
        for (const auto& v : votes) {
            if (taken >= options_.vote_candidates || v.votes < options_.min_votes) break;
            if (std::find(candidates.begin(), candidates.end(), v.id) == candidates.end()) candidates.push_back(v.id);
            ++taken;
        }
    }
    const double threshold = options.threshold.value_or(options_.match_threshold);
    std::vector<SearchHit> hits;
    std::vector<std::uint8_t> signature_bytes;
    for (std::int64_t id : candidates) {
        auto entry = catalog_->find_by_id(id, &signature_bytes);
        if (!entry || !entry->active || !has_labels(entry->labels, options.required_labels)) continue;
        const Signature reference = decode_signature_or_throw(id, signature_bytes);
        const MatchEvidence e = compare(query, reference, options_.score, options_.verify);
        SearchHit h;
        h.id = id;
        h.key = std::move(entry->key);
        h.labels = std::move(entry->labels);
        h.score = e.score;
        h.match = e.score >= threshold;
        h.inliers = e.geometry.inliers;
        h.pdq_distance = e.pdq_distance;
        h.mirrored = e.geometry.mirrored;
        h.region = e.geometry.reference_region;
        hits.push_back(std::move(h));
    }
    std::sort(hits.begin(), hits.end(), best_first);
    if (options.top > 0 && hits.size() > static_cast<std::size_t>(options.top)) hits.resize(options.top);
    return hits;
}

void Store::optimise() {
    std::lock_guard writer(write_mutex_);
    const auto current = view_.load();
    if (current->segments.size() == 1 && current->segments.front().get() != open_tail_) {
        // One closed segment already; organise it for its size if it is not (a copy, then swapped in).
        auto only = current->segments.front()->copy();
        only->descriptors.optimise();
        auto next = std::make_shared<IndexView>(*current);
        next->segments.front() = std::move(only);
        view_.store(std::move(next));
        return;
    }
    if (current->segments.empty()) return;
    auto next = std::make_shared<IndexView>(*current);
    next->segments = {build_segment(0, current->max_id, true)};
    open_tail_ = nullptr;
    view_.store(std::move(next));
}

void Store::save_snapshot() {
    std::lock_guard writer(write_mutex_);
    const auto view = view_.load();
    const std::int64_t generation = catalog_->generation();
    // A segment never changes once published, so its files are named by what it holds and written once:
    // a snapshot writes only the segments that are new since the last one.
    nlohmann::json segments = nlohmann::json::array();
    std::unordered_set<std::string> keep;
    for (const auto& segment : view->segments) {
        const std::string stem = "seg-" + std::to_string(generation) + "-" + std::to_string(segment->first_id) + "-" +
                                 std::to_string(segment->last_id) + "-" + std::to_string(segment->rows) + "-" +
                                 std::to_string(segment->descriptors.size());
        const std::string pdq_name = stem + ".pdq.faiss", desc_name = stem + ".desc.faiss";
        for (const auto& [name, write] : {std::pair<std::string, std::function<void(const std::filesystem::path&)>>{
                                              pdq_name, [&](const auto& f) { segment->pdq.save(f); }},
                                          {desc_name, [&](const auto& f) { segment->descriptors.save(f); }}}) {
            if (std::filesystem::exists(dir_ / name)) continue;
            const auto tmp = dir_ / (name + ".tmp");
            write(tmp);
            std::filesystem::rename(tmp, dir_ / name);
        }
        keep.insert(pdq_name);
        keep.insert(desc_name);
        segments.push_back({{"first_id", segment->first_id}, {"last_id", segment->last_id}, {"pdq", pdq_name},
                            {"descriptors", desc_name}});
    }
    const nlohmann::json meta = {{"format", 2}, {"generation", generation}, {"max_id", view->max_id}, {"segments", segments}};
    const auto tmp = dir_ / (std::string(kSnapshotFile) + ".tmp");
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << meta.dump(2) << '\n';
        out.flush();
        if (!out) throw StoreError("cannot write " + tmp.string());
    }
    // The rename is the commit point; index files no longer named are removed after it.
    std::filesystem::rename(tmp, dir_ / kSnapshotFile);
    for (const auto& f : std::filesystem::directory_iterator(dir_)) {
        const std::string name = f.path().filename().string();
        if ((name.ends_with(".faiss") || name.ends_with(".faiss.tmp")) && !keep.contains(name)) std::filesystem::remove(f.path());
    }
}

std::int64_t Store::compact() {
    std::int64_t removed = 0;
    {
        std::lock_guard writer(write_mutex_);
        removed = catalog_->purge_inactive();
        auto next = std::make_shared<IndexView>();
        next->max_id = catalog_->max_id();
        next->segments = {build_segment(0, next->max_id, true)};
        open_tail_ = nullptr;
        view_.store(std::move(next));
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
    s.segments = view->segments.size();
    s.merges = merges_.load();
    return s;
}

}  // namespace neardup::store
