#include "neardup/store/sqlite_catalog.hpp"

#include <chrono>
#include <cstring>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "connection_pool.hpp"

namespace neardup::store {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta(name, value) VALUES ('schema_version', '1'), ('generation', '1');
CREATE TABLE IF NOT EXISTS images(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL,
  sha256 BLOB NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  added_at INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('active', 'deleted')),
  labels TEXT NOT NULL DEFAULT '{}',
  source TEXT NOT NULL DEFAULT '',
  signature BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS images_active_key ON images(key) WHERE status = 'active';
-- Small JPEG previews for reviewers (added after schema 1 without changing it: older builds ignore the table).
CREATE TABLE IF NOT EXISTS thumbnails(id INTEGER PRIMARY KEY, jpeg BLOB NOT NULL);
)sql";

class Statement {
public:
    Statement(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
            throw StoreError(std::string("catalog: cannot prepare statement: ") + sqlite3_errmsg(db));
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    void reset() {  // ready to run again with new bindings
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
    void bind(int i, const std::string& v) { sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
    void bind_blob(int i, const void* p, std::size_t n) { sqlite3_bind_blob(stmt_, i, p, static_cast<int>(n), SQLITE_TRANSIENT); }
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        if (sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_UNIQUE) throw KeyConflict(std::string("catalog: ") + sqlite3_errmsg(db_));
        throw StoreError(std::string("catalog: ") + sqlite3_errmsg(db_));
    }
    std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
    std::string text(int col) const {
        const auto* p = sqlite3_column_text(stmt_, col);
        return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : std::string();
    }
    std::span<const std::uint8_t> blob(int col) const {
        const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
        return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))};
    }

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr const char* kEntryColumns = "id, key, sha256, width, height, added_at, status, labels, source";

CatalogEntry read_entry(const Statement& s) {
    CatalogEntry e;
    e.id = s.int64(0);
    e.key = s.text(1);
    const auto sha = s.blob(2);
    if (sha.size() == e.sha256.size()) std::memcpy(e.sha256.data(), sha.data(), sha.size());
    e.width = static_cast<std::uint32_t>(s.int64(3));
    e.height = static_cast<std::uint32_t>(s.int64(4));
    e.added_at_ms = s.int64(5);
    e.active = s.text(6) == "active";
    const auto labels = nlohmann::json::parse(s.text(7));  // named: items() must not outlive it
    for (const auto& [name, value] : labels.items()) e.labels[name] = value.get<std::string>();
    e.source = s.text(8);
    return e;
}

}  // namespace

struct SqliteCatalog::Connection {
    sqlite3* db = nullptr;
    mutable std::mutex mutex;

    // `name` is a path, or a file: URI when `flags` hold SQLITE_OPEN_URI.
    Connection(const std::string& name, const std::filesystem::path& file, int flags) {
        if (sqlite3_open_v2(name.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
            const std::string message = db ? sqlite3_errmsg(db) : "out of memory";
            sqlite3_close(db);
            throw StoreError("cannot open catalog " + file.string() + ": " + message);
        }
        sqlite3_busy_timeout(db, 10000);
        try {
            if (!(flags & SQLITE_OPEN_READONLY)) exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
        } catch (...) {
            sqlite3_close(db);  // the destructor does not run for a constructor that throws
            throw;
        }
    }
    ~Connection() { sqlite3_close(db); }
    void exec(const char* sql) const {
        char* error = nullptr;
        if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
            const std::string message = error ? error : "unknown error";
            sqlite3_free(error);
            throw StoreError("catalog: " + message);
        }
    }
};

namespace {

// file: URI of a path as SQLite reads it, with the query parameters given.
std::string file_uri(const std::filesystem::path& file, const char* query) {
    std::string out = "file:";
    for (const char c : std::filesystem::absolute(file).string()) {
        if (c == '%' || c == '?' || c == '#') out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
        else out += c;
    }
    return out + "?" + query;
}

void check_schema(sqlite3* db, const std::filesystem::path& file) {
    Statement version(db, "SELECT value FROM meta WHERE name = 'schema_version'");
    if (!version.step() || version.text(0) != "1")
        throw StoreError("catalog " + file.string() + " has an unsupported schema version (this build reads version 1)");
}

}  // namespace

SqliteCatalog::SqliteCatalog(const std::filesystem::path& file, CatalogMode mode) : file_(file) {
    if (mode != CatalogMode::create && !std::filesystem::exists(file)) throw StoreError("no catalog at " + file.string());
    if (mode == CatalogMode::read_only) {
        // A WAL database opens read-only only where SQLite can share its -shm file; on read-only storage
        // (a snapshot mount, a read-only volume) it is opened as immutable instead: nobody writes it there.
        std::string name = file.string();
        int flags = SQLITE_OPEN_READONLY;
        try {
            readers_.push_back(std::make_unique<Connection>(name, file, flags));
            check_schema(readers_.back()->db, file);
        } catch (const StoreError&) {
            readers_.clear();
            name = file_uri(file, "immutable=1");
            flags |= SQLITE_OPEN_URI;
            readers_.push_back(std::make_unique<Connection>(name, file, flags));
            check_schema(readers_.back()->db, file);
        }
        for (int i = 1; i < kReaders; ++i) readers_.push_back(std::make_unique<Connection>(name, file, flags));
        return;
    }
    writer_ = std::make_unique<Connection>(file.string(), file, SQLITE_OPEN_READWRITE | (mode == CatalogMode::create ? SQLITE_OPEN_CREATE : 0));
    writer_->exec(kSchema);
    check_schema(writer_->db, file);
    for (int i = 0; i < kReaders; ++i) readers_.push_back(std::make_unique<Connection>(file.string(), file, SQLITE_OPEN_READWRITE));
}

std::unique_lock<std::mutex> SqliteCatalog::reader(sqlite3*& db) const {
    Connection* c = nullptr;
    auto lock = detail::lock_a_reader(readers_, next_reader_, c);
    db = c->db;
    return lock;
}

SqliteCatalog::~SqliteCatalog() = default;

std::optional<CatalogEntry> SqliteCatalog::find_active(const std::string& key) const {
    sqlite3* db = nullptr;
    const auto lock = reader(db);
    Statement s(db, (std::string("SELECT ") + kEntryColumns + " FROM images WHERE key = ? AND status = 'active'").c_str());
    s.bind(1, key);
    if (!s.step()) return std::nullopt;
    return read_entry(s);
}

std::optional<CatalogEntry> SqliteCatalog::find_by_id(std::int64_t id, std::vector<std::uint8_t>* signature) const {
    sqlite3* db = nullptr;
    const auto lock = reader(db);
    Statement s(db, (std::string("SELECT ") + kEntryColumns + ", signature FROM images WHERE id = ?").c_str());
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    if (signature) {
        const auto b = s.blob(9);
        signature->assign(b.begin(), b.end());
    }
    return read_entry(s);
}

std::vector<std::uint8_t> SqliteCatalog::signature(std::int64_t id) const {
    sqlite3* db = nullptr;
    const auto lock = reader(db);
    Statement s(db, "SELECT signature FROM images WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return {};
    const auto b = s.blob(0);
    return {b.begin(), b.end()};
}

std::vector<std::int64_t> SqliteCatalog::insert(const std::vector<NewEntry>& entries) {
    if (!writer_) throw StoreError("catalog: opened read-only");
    std::lock_guard lock(writer_->mutex);
    std::vector<std::int64_t> ids;
    writer_->exec("BEGIN IMMEDIATE");
    try {
        // Prepared once per transaction, reset per row.
        Statement deactivate(writer_->db, "UPDATE images SET status = 'deleted' WHERE key = ? AND status = 'active'");
        Statement insert(writer_->db,
                         "INSERT INTO images(key, sha256, width, height, added_at, status, labels, source, signature) "
                         "VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?)");
        Statement thumbnail(writer_->db, "INSERT INTO thumbnails(id, jpeg) VALUES (?, ?)");
        for (const auto& e : entries) {
            if (e.replace) {
                deactivate.reset();
                deactivate.bind(1, e.key);
                deactivate.step();
            }
            insert.reset();
            insert.bind(1, e.key);
            insert.bind_blob(2, e.sha256.data(), e.sha256.size());
            insert.bind(3, static_cast<std::int64_t>(e.width));
            insert.bind(4, static_cast<std::int64_t>(e.height));
            insert.bind(5, now_ms());
            insert.bind(6, nlohmann::json(e.labels).dump());
            insert.bind(7, e.source);
            insert.bind_blob(8, e.signature.data(), e.signature.size());
            insert.step();
            ids.push_back(sqlite3_last_insert_rowid(writer_->db));
            if (!e.thumbnail.empty()) {
                thumbnail.reset();
                thumbnail.bind(1, ids.back());
                thumbnail.bind_blob(2, e.thumbnail.data(), e.thumbnail.size());
                thumbnail.step();
            }
        }
        writer_->exec("COMMIT");
    } catch (...) {
        sqlite3_exec(writer_->db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    return ids;
}

std::optional<std::int64_t> SqliteCatalog::deactivate(const std::string& key) {
    if (!writer_) throw StoreError("catalog: opened read-only");
    std::lock_guard lock(writer_->mutex);
    Statement s(writer_->db, "UPDATE images SET status = 'deleted' WHERE key = ? AND status = 'active' RETURNING id");
    s.bind(1, key);
    if (!s.step()) return std::nullopt;
    const std::int64_t id = s.int64(0);
    while (s.step()) {
    }
    return id;
}

void SqliteCatalog::scan(std::int64_t after_id, std::int64_t last_id,
                         const std::function<void(std::int64_t, bool, std::span<const std::uint8_t>)>& fn, const Shard& shard) const {
    sqlite3* db = nullptr;
    const auto lock = reader(db);
    Statement s(db, "SELECT id, status, signature, key FROM images WHERE id > ? AND id <= ? ORDER BY id");
    s.bind(1, after_id);
    s.bind(2, last_id);
    while (s.step())
        if (shard.owns(s.text(3))) fn(s.int64(0), s.text(1) == "active", s.blob(2));
}

void SqliteCatalog::scan_active(const std::function<void(const CatalogEntry&, std::span<const std::uint8_t>)>& fn) const {
    sqlite3* db = nullptr;
    const auto lock = reader(db);
    Statement s(db, (std::string("SELECT ") + kEntryColumns + ", signature FROM images WHERE status = 'active' ORDER BY key").c_str());
    while (s.step()) fn(read_entry(s), s.blob(9));
}

std::optional<std::vector<std::uint8_t>> SqliteCatalog::thumbnail(std::int64_t id) const {
    sqlite3* db = nullptr;
    const auto lock = reader(db);
    // A catalog written before thumbnails has no such table (opened read-only, it was never added).
    Statement exists(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'thumbnails'");
    if (!exists.step()) return std::nullopt;
    Statement s(db, "SELECT jpeg FROM thumbnails WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    const auto b = s.blob(0);
    return std::vector<std::uint8_t>(b.begin(), b.end());
}

std::vector<CatalogEntry> SqliteCatalog::without_thumbnail(std::int64_t after_id, std::size_t limit) const {
    sqlite3* db = nullptr;
    const auto lock = reader(db);
    Statement s(db, (std::string("SELECT ") + kEntryColumns +
                     " FROM images WHERE status = 'active' AND width > 0 AND id > ? AND id NOT IN (SELECT id FROM thumbnails)"
                     " ORDER BY id LIMIT ?").c_str());
    s.bind(1, after_id);
    s.bind(2, static_cast<std::int64_t>(limit));
    std::vector<CatalogEntry> out;
    while (s.step()) out.push_back(read_entry(s));
    return out;
}

void SqliteCatalog::set_thumbnail(std::int64_t id, std::span<const std::uint8_t> jpeg) {
    if (!writer_) throw StoreError("catalog: opened read-only");
    std::lock_guard lock(writer_->mutex);
    Statement s(writer_->db, "INSERT OR REPLACE INTO thumbnails(id, jpeg) VALUES (?, ?)");
    s.bind(1, id);
    s.bind_blob(2, jpeg.data(), jpeg.size());
    s.step();
}

std::vector<CatalogEntry> SqliteCatalog::list_active(const std::string& after_key, const std::string& prefix, const Labels& labels,
                                               std::size_t limit, std::size_t max_scanned, std::string* resume_after) const {
    sqlite3* db = nullptr;
    const auto lock = reader(db);
    // Keys in order from after_key on; the prefix bounds the range, labels are checked here (they are JSON).
    Statement s(db, (std::string("SELECT ") + kEntryColumns + " FROM images WHERE status = 'active' AND key > ? AND key >= ? ORDER BY key").c_str());
    s.bind(1, after_key);
    s.bind(2, prefix);
    std::vector<CatalogEntry> out;
    std::size_t scanned = 0;
    if (resume_after) resume_after->clear();
    while (out.size() < limit && s.step()) {
        CatalogEntry e = read_entry(s);
        if (!e.key.starts_with(prefix)) break;
        ++scanned;
        if (has_labels(e.labels, labels)) out.push_back(std::move(e));
        if (out.size() == limit) {
            if (resume_after && s.step() && read_entry(s).key.starts_with(prefix)) *resume_after = out.back().key;
            break;
        }
        if (scanned >= max_scanned) {  // a rare label: hand back a cursor rather than read the whole catalog
            if (resume_after) *resume_after = e.key;
            break;
        }
    }
    return out;
}

std::vector<std::int64_t> SqliteCatalog::inactive_ids(const Shard& shard) const {
    sqlite3* db = nullptr;
    const auto lock = reader(db);
    Statement s(db, "SELECT id, key FROM images WHERE status = 'deleted'");
    std::vector<std::int64_t> out;
    while (s.step())
        if (shard.owns(s.text(1))) out.push_back(s.int64(0));
    return out;
}

std::int64_t SqliteCatalog::read_int64(const char* sql) const {
    sqlite3* db = nullptr;
    const auto lock = reader(db);
    Statement s(db, sql);
    s.step();
    return s.int64(0);
}

std::int64_t SqliteCatalog::max_id() const { return read_int64("SELECT COALESCE(MAX(id), 0) FROM images"); }

std::int64_t SqliteCatalog::active_count() const { return read_int64("SELECT COUNT(*) FROM images WHERE status = 'active'"); }

std::int64_t SqliteCatalog::generation() const { return read_int64("SELECT CAST(value AS INTEGER) FROM meta WHERE name = 'generation'"); }

// Settings share the meta table with schema_version and generation, under their own prefix.
std::optional<std::string> SqliteCatalog::setting(const std::string& name) const {
    sqlite3* db = nullptr;
    const auto lock = reader(db);
    Statement s(db, "SELECT value FROM meta WHERE name = ?1");
    s.bind(1, "setting." + name);
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

std::string SqliteCatalog::claim_setting(const std::string& name, const std::string& value) {
    if (!writer_) throw StoreError("catalog: opened read-only");
    {
        std::lock_guard lock(writer_->mutex);
        Statement s(writer_->db, "INSERT OR IGNORE INTO meta(name, value) VALUES (?1, ?2)");
        s.bind(1, "setting." + name);
        s.bind(2, value);
        s.step();
    }
    return setting(name).value_or(value);
}

std::int64_t SqliteCatalog::purge_inactive() {
    if (!writer_) throw StoreError("catalog: opened read-only");
    std::lock_guard lock(writer_->mutex);
    writer_->exec("BEGIN IMMEDIATE");
    std::int64_t removed = 0;
    try {
        Statement d(writer_->db, "DELETE FROM images WHERE status = 'deleted'");
        d.step();
        removed = sqlite3_changes(writer_->db);
        writer_->exec("DELETE FROM thumbnails WHERE id NOT IN (SELECT id FROM images)");
        writer_->exec("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'generation'");
        writer_->exec("COMMIT");
    } catch (...) {
        sqlite3_exec(writer_->db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    writer_->exec("VACUUM");
    return removed;
}

std::vector<std::string> SqliteCatalog::integrity_problems(bool quick) const {
    sqlite3* db = nullptr;
    const auto lock = reader(db);
    Statement s(db, quick ? "PRAGMA quick_check" : "PRAGMA integrity_check");
    std::vector<std::string> problems;
    while (s.step())
        if (const std::string line = s.text(0); line != "ok") problems.push_back(line);
    return problems;
}

}  // namespace neardup::store
