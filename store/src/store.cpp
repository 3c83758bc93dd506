#include "neardup/store/store.hpp"

#include <algorithm>
#include <fstream>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "neardup/engine/regions.hpp"
#include "neardup/engine/signature_codec.hpp"

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
    : dir_(dir), options_(std::move(options)), extractor_(options_.signature), descriptors_(options_.descriptors) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) throw StoreError("cannot create index directory " + dir_.string() + ": " + ec.message());
    catalog_ = std::make_unique<Catalog>(dir_ / kCatalogFile);

    // The snapshot is only a head start: anything it lacks is read from the catalog, and a snapshot from
    // another generation (before a compaction) or one that fails to load is ignored.
    const auto snapshot_path = dir_ / kSnapshotFile;
    bool loaded = false;
    if (std::filesystem::exists(snapshot_path)) {
        try {
            std::ifstream in(snapshot_path);
            const auto meta = nlohmann::json::parse(in);
            if (meta.at("generation").get<std::int64_t>() == catalog_->generation() &&
                meta.at("max_id").get<std::int64_t>() <= catalog_->max_id()) {
                pdq_ = PdqIndex::load(dir_ / meta.at("pdq").get<std::string>());
                descriptors_ = DescriptorIndex::load(dir_ / meta.at("descriptors").get<std::string>(), options_.descriptors);
                indexed_max_id_ = meta.at("max_id").get<std::int64_t>();
                loaded = true;
            }
        } catch (const std::exception&) {
            loaded = false;
        }
    }
    if (!loaded) {
        pdq_ = PdqIndex();
        descriptors_ = DescriptorIndex(options_.descriptors);
        indexed_max_id_ = 0;
    }
    const std::int64_t before = indexed_max_id_;
    for (std::int64_t id : catalog_->inactive_ids()) inactive_.insert(id);
    catch_up(indexed_max_id_);
    open_stats_.loaded_from_snapshot = loaded;
    open_stats_.caught_up = indexed_max_id_ - before;
}

Store::~Store() = default;

void Store::index_row(std::int64_t id, bool active, const Signature& signature) {
    pdq_.add(id, signature.pdq.hash);
    descriptors_.add(id, signature.features);
    if (!active) inactive_.insert(id);
    indexed_max_id_ = std::max(indexed_max_id_, id);
}

void Store::catch_up(std::int64_t after_id) {
    std::unique_lock lock(mutex_);
    catalog_->scan(after_id, [&](std::int64_t id, bool active, std::span<const std::uint8_t> bytes) {
        index_row(id, active, decode_signature_or_throw(id, bytes));
    });
    descriptors_.optimise();
}

AddStatus Store::plan(const std::string& key, const Sha256& sha, bool replace) const {
    const auto existing = catalog_->find_active(key);
    if (!existing) return AddStatus::added;
    if (existing->sha256 == sha) return AddStatus::unchanged;
    return replace ? AddStatus::replaced : AddStatus::conflict;
}

Result<PreparedAdd> Store::prepare(const std::string& key, std::span<const std::uint8_t> bytes, const Sha256& sha,
                                   const Labels& labels, bool replace) const {
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
    std::unique_lock lock(mutex_);
    for (std::int64_t id : replaced) inactive_.insert(id);
    for (std::size_t i = 0; i < ids.size(); ++i) index_row(ids[i], true, adds[i].signature);
    return ids;
}

Result<AddStatus> Store::add(const std::string& key, std::span<const std::uint8_t> bytes, const Labels& labels, bool replace) {
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
    std::unique_lock lock(mutex_);
    inactive_.insert(*id);
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
        std::shared_lock lock(mutex_);
        const auto& variants = query.signature.pdq_dihedral.empty() ? std::vector<Hash256>{query.signature.pdq.hash}
                                                                    : query.signature.pdq_dihedral;
        for (const auto& n : pdq_.search(variants, options_.pdq_neighbours))
            if (n.distance <= options_.pdq_max_distance && !inactive_.contains(n.id)) candidates.push_back(n.id);
        // Mirrored descriptors vote only when the direct ones found no clear candidate: half the
        // descriptor search for most queries, and a mirrored copy gets few direct votes.
        auto votes = descriptors_.vote({&query.signature.features}, options_.vote_candidates * 2);
        if (votes.empty() || votes.front().votes < options_.mirror_vote_below)
            votes = descriptors_.vote({&query.signature.features, &query.mirrored_features}, options_.vote_candidates * 2);
        std::size_t taken = 0;
        for (const auto& v : votes) {
            if (taken >= options_.vote_candidates || v.votes < options_.min_votes) break;
            if (inactive_.contains(v.id)) continue;
            if (std::find(candidates.begin(), candidates.end(), v.id) == candidates.end()) candidates.push_back(v.id);
            ++taken;
        }
    }
    const double threshold = options.threshold.value_or(options_.match_threshold);
    std::vector<SearchHit> hits;
    for (std::int64_t id : candidates) {
        auto entry = catalog_->find_by_id(id);
        if (!entry || !entry->active || !has_labels(entry->labels, options.required_labels)) continue;
        const Signature reference = decode_signature_or_throw(id, catalog_->signature(id));
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
    std::unique_lock lock(mutex_);
    descriptors_.optimise();
}

void Store::save_snapshot() {
    std::lock_guard writer(write_mutex_);
    std::shared_lock lock(mutex_);
    const std::int64_t generation = catalog_->generation();
    const std::string stem = std::to_string(generation) + "-" + std::to_string(indexed_max_id_);
    const std::string pdq_name = "pdq-" + stem + ".faiss", desc_name = "descriptors-" + stem + ".faiss";
    pdq_.save(dir_ / pdq_name);
    descriptors_.save(dir_ / desc_name);
    const nlohmann::json meta = {{"format", 1}, {"generation", generation}, {"max_id", indexed_max_id_},
                                 {"pdq", pdq_name}, {"descriptors", desc_name}};
    const auto tmp = dir_ / (std::string(kSnapshotFile) + ".tmp");
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << meta.dump(2) << '\n';
        out.flush();
        if (!out) throw StoreError("cannot write " + tmp.string());
    }
    // The rename is the commit point; index files of older snapshots are removed after it.
    std::filesystem::rename(tmp, dir_ / kSnapshotFile);
    for (const auto& f : std::filesystem::directory_iterator(dir_)) {
        const std::string name = f.path().filename().string();
        if (name.ends_with(".faiss") && name != pdq_name && name != desc_name) std::filesystem::remove(f.path());
    }
}

std::int64_t Store::compact() {
    std::int64_t removed = 0;
    {
        std::lock_guard writer(write_mutex_);
        removed = catalog_->purge_inactive();
        std::unique_lock lock(mutex_);
        pdq_ = PdqIndex();
        descriptors_ = DescriptorIndex(options_.descriptors);
        inactive_.clear();
        indexed_max_id_ = 0;
    }
    catch_up(0);
    save_snapshot();
    return removed;
}

StoreStats Store::stats() const {
    StoreStats s = open_stats_;
    std::shared_lock lock(mutex_);
    s.active = catalog_->active_count();
    s.inactive = static_cast<std::int64_t>(inactive_.size());
    s.pdq_entries = pdq_.size();
    s.descriptor_entries = descriptors_.size();
    s.generation = catalog_->generation();
    return s;
}

}  // namespace neardup::store
