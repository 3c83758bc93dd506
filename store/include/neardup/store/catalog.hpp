// The durable catalog of references: one SQLite database (WAL), the source of truth for every index.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

struct sqlite3;

namespace neardup::store {

using Labels = std::map<std::string, std::string>;
using Sha256 = std::array<std::uint8_t, 32>;

// True when `have` carries every name=value of `want` (the label filter of searches and listings).
bool has_labels(const Labels& have, const Labels& want);

// A store that cannot be opened, read or written (disk, permissions, corruption). Not for bad input.
class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct CatalogEntry {
    std::int64_t id = 0;        // never reused: the FAISS indexes key on it
    std::string key;
    Labels labels;
    Sha256 sha256{};
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    std::int64_t added_at_ms = 0;  // Unix time, milliseconds
    std::string source;            // where the image was read from (a path), for reviewers; may be empty
    bool active = true;            // false once deleted or replaced (kept until compaction)

    // A reference known by its PDQ hash alone (imported from a partner's hash list): no image, no local
    // features, width and height 0. Found by PDQ only.
    bool hash_only() const { return width == 0 && height == 0; }
};

struct NewEntry {
    std::string key;
    Labels labels;
    Sha256 sha256{};
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    std::string source;
    std::vector<std::uint8_t> signature;  // serialized Signature
    std::vector<std::uint8_t> thumbnail;  // a small JPEG for reviewers; may be empty (hash-only references)
    bool replace = false;                 // deactivate an active entry with the same key first
};

// create: the file is made if missing; write: it must exist; read_only: it must exist, nothing is written (on
// read-only storage the database is opened as immutable).
enum class CatalogMode { create, write, read_only };

// Thread-safe: writes go through one connection under a lock, reads through a small pool of others (WAL lets
// them overlap).
class Catalog {
public:
    explicit Catalog(const std::filesystem::path& file, CatalogMode mode = CatalogMode::create);
    ~Catalog();
    Catalog(const Catalog&) = delete;
    Catalog& operator=(const Catalog&) = delete;

    std::optional<CatalogEntry> find_active(const std::string& key) const;
    // With `signature`, the row's serialized signature too (one read for both).
    std::optional<CatalogEntry> find_by_id(std::int64_t id, std::vector<std::uint8_t>* signature = nullptr) const;
    std::vector<std::uint8_t> signature(std::int64_t id) const;  // empty if no such row

    // Inserts all entries in one transaction (durable when this returns); returns their new ids.
    std::vector<std::int64_t> insert(const std::vector<NewEntry>& entries);
    // Marks the active entry of `key` deleted; returns its id, or nothing if there was none.
    std::optional<std::int64_t> deactivate(const std::string& key);

    // Calls fn for every row with after_id < id <= last_id, in id order (active and inactive, with the flag).
    void scan(std::int64_t after_id, std::int64_t last_id,
              const std::function<void(std::int64_t id, bool active, std::span<const std::uint8_t> signature)>& fn) const;
    // Calls fn for every active row in key order, with its serialized signature. Holds one reader for the
    // whole scan.
    void scan_active(const std::function<void(const CatalogEntry& entry, std::span<const std::uint8_t> signature)>& fn) const;
    // The row's thumbnail JPEG; nothing when it has none (hash-only, or added before thumbnails existed).
    std::optional<std::vector<std::uint8_t>> thumbnail(std::int64_t id) const;
    // Active image rows (not hash-only) with id > after_id and no thumbnail, in id order, at most `limit`.
    std::vector<CatalogEntry> without_thumbnail(std::int64_t after_id, std::size_t limit) const;
    // Stores (or replaces) the thumbnail of row `id`.
    void set_thumbnail(std::int64_t id, std::span<const std::uint8_t> jpeg);
    // Active rows with keys after `after_key` that start with `prefix` and carry every label, in key order,
    // at most `limit`, reading at most `max_scanned` rows. `resume_after` receives the key to continue
    // after when there may be more (empty when the listing is complete).
    std::vector<CatalogEntry> list_active(const std::string& after_key, const std::string& prefix, const Labels& labels,
                                          std::size_t limit, std::size_t max_scanned, std::string* resume_after) const;
    std::vector<std::int64_t> inactive_ids() const;
    std::int64_t max_id() const;
    std::int64_t active_count() const;

    // Compaction: removes inactive rows for good and bumps the generation (snapshots of older generations
    // are then rebuilt). Returns the number of rows removed.
    std::int64_t purge_inactive();
    std::int64_t generation() const;

    // SQLite's own consistency check (PRAGMA quick_check, or the slower integrity_check that also compares
    // indexes with their tables): the problems it lists, empty when the database is sound.
    std::vector<std::string> integrity_problems(bool quick) const;
    bool read_only() const { return writer_ == nullptr; }

private:
    struct Connection;
    static constexpr int kReaders = 4;
    std::unique_lock<std::mutex> reader(sqlite3*& db) const;
    std::int64_t read_int64(const char* sql) const;  // the first column of a one-row query

    std::unique_ptr<Connection> writer_;  // null when read-only
    std::vector<std::unique_ptr<Connection>> readers_;
    mutable std::atomic<std::size_t> next_reader_{0};
};

}  // namespace neardup::store
