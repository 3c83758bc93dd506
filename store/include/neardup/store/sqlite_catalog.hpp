// The embedded catalog backend: one SQLite database file (WAL) in the index directory. One writing process.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "neardup/store/catalog.hpp"

struct sqlite3;

namespace neardup::store {

// Writes go through one connection under a lock, reads through a small pool of others (WAL lets them overlap).
class SqliteCatalog final : public Catalog {
public:
    explicit SqliteCatalog(const std::filesystem::path& file, CatalogMode mode = CatalogMode::create);
    ~SqliteCatalog() override;
    SqliteCatalog(const SqliteCatalog&) = delete;
    SqliteCatalog& operator=(const SqliteCatalog&) = delete;

    std::optional<CatalogEntry> find_active(const std::string& key) const override;
    std::optional<CatalogEntry> find_by_id(std::int64_t id, std::vector<std::uint8_t>* signature = nullptr) const override;
    std::vector<std::uint8_t> signature(std::int64_t id) const override;
    std::vector<std::int64_t> insert(const std::vector<NewEntry>& entries) override;
    std::optional<std::int64_t> deactivate(const std::string& key) override;
    void scan(std::int64_t after_id, std::int64_t last_id,
              const std::function<void(std::int64_t id, bool active, std::span<const std::uint8_t> signature)>& fn,
              const Shard& shard = {}) const override;
    // Holds one reader for the whole scan.
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
    // PRAGMA quick_check, or the slower integrity_check that also compares indexes with their tables.
    std::vector<std::string> integrity_problems(bool quick) const override;
    bool read_only() const override { return writer_ == nullptr; }
    std::string describe() const override { return file_.string(); }

private:
    struct Connection;
    static constexpr int kReaders = 4;
    std::unique_lock<std::mutex> reader(sqlite3*& db) const;
    std::int64_t read_int64(const char* sql) const;  // the first column of a one-row query

    std::filesystem::path file_;
    std::unique_ptr<Connection> writer_;  // null when read-only
    std::vector<std::unique_ptr<Connection>> readers_;
    mutable std::atomic<std::size_t> next_reader_{0};
};

}  // namespace neardup::store
