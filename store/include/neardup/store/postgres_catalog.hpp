// The shared catalog backend: tables in a PostgreSQL database that many processes (servers, index runs) read
// and write at once, each keeping its own FAISS indexes derived from it.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "neardup/store/catalog.hpp"

namespace neardup::store {

// `url` is a libpq connection URI (postgresql://user:password@host:port/database?options; a unix socket
// directory as host=/path). create makes or migrates the schema (tables named neardup_*, the version in
// neardup_meta, one advisory lock around every migration); write and read_only require it, read_only
// connections refuse writes at the server too.
//
// Writes take one transaction-scoped advisory lock, so ids (a sequence) are handed out in the order writes
// commit and a reader that has seen id n has seen every row below it: a follower's cursor never skips a row
// that a slower transaction committed later. Every write also stamps its rows with a change number (second
// sequence) and notifies channel `neardup_catalog`, for processes that follow the catalog.
class PostgresCatalog final : public Catalog {
public:
    explicit PostgresCatalog(const std::string& url, CatalogMode mode = CatalogMode::create);
    ~PostgresCatalog() override;
    PostgresCatalog(const PostgresCatalog&) = delete;
    PostgresCatalog& operator=(const PostgresCatalog&) = delete;

    std::optional<CatalogEntry> find_active(const std::string& key) const override;
    std::optional<CatalogEntry> find_by_id(std::int64_t id, std::vector<std::uint8_t>* signature = nullptr) const override;
    std::vector<std::uint8_t> signature(std::int64_t id) const override;
    std::vector<std::int64_t> insert(const std::vector<NewEntry>& entries) override;
    std::optional<std::int64_t> deactivate(const std::string& key) override;
    // Reads in pages (by id or key), so a scan of millions of rows holds one page in memory.
    void scan(std::int64_t after_id, std::int64_t last_id,
              const std::function<void(std::int64_t id, bool active, std::span<const std::uint8_t> signature)>& fn,
              const Shard& shard = {}) const override;
    void scan_active(const std::function<void(const CatalogEntry& entry, std::span<const std::uint8_t> signature)>& fn) const override;
    std::optional<std::vector<std::uint8_t>> thumbnail(std::int64_t id) const override;
    std::vector<CatalogEntry> without_thumbnail(std::int64_t after_id, std::size_t limit) const override;
    void set_thumbnail(std::int64_t id, std::span<const std::uint8_t> jpeg) override;
    std::vector<CatalogEntry> list_active(const std::string& after_key, const std::string& prefix, const Labels& labels,
                                          std::size_t limit, std::size_t max_scanned, std::string* resume_after) const override;
    std::vector<std::int64_t> inactive_ids(const Shard& shard = {}) const override;
    std::int64_t max_id() const override;
    std::int64_t active_count() const override;
    std::int64_t purge_inactive() override;
    std::int64_t generation() const override;
    std::optional<std::string> setting(const std::string& name) const override;
    std::string claim_setting(const std::string& name, const std::string& value) override;
    // The schema's version and invariants this build relies on (quick: the version alone). Pages and
    // indexes are PostgreSQL's own to check (data checksums, amcheck).
    std::vector<std::string> integrity_problems(bool quick) const override;
    bool read_only() const override { return writer_ == nullptr; }
    bool shared() const override { return true; }
    std::int64_t last_change() const override;
    std::vector<CatalogChange> changes_after(std::int64_t cursor, std::size_t limit, const Shard& shard = {}) const override;
    // LISTENs on kChannel over a connection of its own (opened on first call, reopened if dropped).
    bool wait_for_changes(std::chrono::milliseconds timeout) const override;
    std::string describe() const override { return description_; }
    std::string identity() const override { return identity_; }

    static constexpr int kSchemaVersion = 1;
    static constexpr const char* kChannel = "neardup_catalog";

private:
    struct Connection;
    static constexpr int kReaders = 4;
    std::unique_lock<std::mutex> reader(Connection*& c) const;

    std::string url_;
    std::string description_;
    std::string identity_;  // neardup_meta.catalog_id, a UUID made with the schema
    std::unique_ptr<Connection> writer_;  // null when read-only
    std::vector<std::unique_ptr<Connection>> readers_;
    mutable std::atomic<std::size_t> next_reader_{0};
    mutable std::mutex listener_mutex_;
    mutable std::unique_ptr<Connection> listener_;
};

}  // namespace neardup::store
