// The durable catalog of references, the source of truth for every index: what every backend offers
// (sqlite_catalog.hpp, the embedded default; postgres_catalog.hpp, shared by many processes).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "neardup/store/shard.hpp"

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

// An insert that would give a key a second active row, because another writer added the key after this one
// looked: nothing of the batch was written.
class KeyConflict : public StoreError {
public:
    using StoreError::StoreError;
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

// A row's latest write, as a catalog that other processes write reports it: its change number (grows in
// commit order), id, and whether it is active now.
struct CatalogChange {
    std::int64_t change = 0;
    std::int64_t id = 0;
    bool active = true;
};

// create: the catalog is made if missing; write: it must exist; read_only: it must exist, nothing is written
// (SQLite on read-only storage opens the file as immutable).
enum class CatalogMode { create, write, read_only };

// Rows of a catalog, with the same semantics in every backend (one test suite runs against each). Ids are
// never reused and grow in the order writes commit. Thread-safe: every method may be called from many threads.
class Catalog {
public:
    virtual ~Catalog() = default;

    virtual std::optional<CatalogEntry> find_active(const std::string& key) const = 0;
    // With `signature`, the row's serialized signature too (one read for both).
    virtual std::optional<CatalogEntry> find_by_id(std::int64_t id, std::vector<std::uint8_t>* signature = nullptr) const = 0;
    virtual std::vector<std::uint8_t> signature(std::int64_t id) const = 0;  // empty if no such row

    // Inserts all entries in one transaction (durable when this returns); returns their new ids. KeyConflict
    // when an entry without `replace` has a key that holds an active row.
    virtual std::vector<std::int64_t> insert(const std::vector<NewEntry>& entries) = 0;
    // Marks the active entry of `key` deleted; returns its id, or nothing if there was none.
    virtual std::optional<std::int64_t> deactivate(const std::string& key) = 0;

    // Calls fn for every row with after_id < id <= last_id whose key `shard` owns, in id order (active and
    // inactive, with the flag).
    virtual void scan(std::int64_t after_id, std::int64_t last_id,
                      const std::function<void(std::int64_t id, bool active, std::span<const std::uint8_t> signature)>& fn,
                      const Shard& shard = {}) const = 0;
    // Calls fn for every active row in key order (bytewise), with its serialized signature.
    virtual void scan_active(const std::function<void(const CatalogEntry& entry, std::span<const std::uint8_t> signature)>& fn) const = 0;
    // The row's thumbnail JPEG; nothing when it has none (hash-only, or added before thumbnails existed).
    virtual std::optional<std::vector<std::uint8_t>> thumbnail(std::int64_t id) const = 0;
    // Active image rows (not hash-only) with id > after_id and no thumbnail, in id order, at most `limit`.
    virtual std::vector<CatalogEntry> without_thumbnail(std::int64_t after_id, std::size_t limit) const = 0;
    // Stores (or replaces) the thumbnail of row `id`.
    virtual void set_thumbnail(std::int64_t id, std::span<const std::uint8_t> jpeg) = 0;
    // Active rows with keys after `after_key` that start with `prefix` and carry every label, in key order
    // (bytewise), at most `limit`, reading at most `max_scanned` rows. `resume_after` receives the key to
    // continue after when there may be more (empty when the listing is complete).
    virtual std::vector<CatalogEntry> list_active(const std::string& after_key, const std::string& prefix, const Labels& labels,
                                                  std::size_t limit, std::size_t max_scanned, std::string* resume_after) const = 0;
    // Ids of deleted rows (awaiting compaction) whose keys `shard` owns.
    virtual std::vector<std::int64_t> inactive_ids(const Shard& shard = {}) const = 0;
    virtual std::int64_t max_id() const = 0;
    virtual std::int64_t active_count() const = 0;

    // Compaction: removes inactive rows for good and bumps the generation (snapshots of older generations
    // are then rebuilt). Returns the number of rows removed.
    virtual std::int64_t purge_inactive() = 0;
    virtual std::int64_t generation() const = 0;
    // A named setting the whole index shares (for example which embedding model built its signatures);
    // nullopt when never set.
    virtual std::optional<std::string> setting(const std::string& name) const = 0;
    // Sets `name` to `value` unless it holds a value already, and returns the value it holds now (the first
    // writer's, when several race).
    virtual std::string claim_setting(const std::string& name, const std::string& value) = 0;

    // The backend's own consistency check (quick: the cheaper one): the problems it lists, empty when sound.
    virtual std::vector<std::string> integrity_problems(bool quick) const = 0;
    virtual bool read_only() const = 0;

    // Following a catalog that other processes write too (shared() true): rows whose latest write has a change
    // number after `cursor` and keys `shard` owns, in change order, at most `limit`; last_change() is the cursor that has seen every
    // committed write. wait_for_changes blocks until another process may have written (a notification) or
    // `timeout` passed. A catalog with one writing process (SQLite) reports no changes: its writer is its store.
    virtual bool shared() const { return false; }
    virtual std::int64_t last_change() const { return 0; }
    virtual std::vector<CatalogChange> changes_after(std::int64_t /*cursor*/, std::size_t /*limit*/, const Shard& /*shard*/ = {}) const {
        return {};
    }
    virtual bool wait_for_changes(std::chrono::milliseconds /*timeout*/) const { return false; }
    // What names this catalog in the snapshots derived from it (a UUID made with a PostgreSQL catalog's schema);
    // empty for a catalog that lives in the index directory itself.
    virtual std::string identity() const { return {}; }
    // Where the catalog lives, for messages: a file path, or a PostgreSQL server and database (never a password).
    virtual std::string describe() const = 0;
};

// True for a catalog address that names a PostgreSQL server (postgresql:// or postgres:// URI).
bool is_postgres_url(const std::string& address);

}  // namespace neardup::store
