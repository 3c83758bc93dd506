#include "neardup/store/postgres_catalog.hpp"

#include <chrono>
#include <cstring>
#include <thread>
#include <endian.h>
#include <poll.h>

#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include "connection_pool.hpp"

namespace neardup::store {
namespace {

// Advisory lock keys (one 64-bit space per database): every write, and schema migrations.
constexpr std::int64_t kWriteLock = 0x6e656172'64757001;  // "neardup" 1
constexpr std::int64_t kSchemaLock = 0x6e656172'64757002;

// Rows per page of a long scan: a page of signatures is a few MB.
constexpr int kScanPage = 512;

// Schema migrations: migrations[v] takes a catalog from version v to v + 1 (applied under kSchemaLock, each in
// the same transaction as the version it records). Keys compare bytewise (COLLATE "C"), as SQLite compares
// them, so listings page the same way on both backends.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE neardup_meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- catalog_id names this catalog in the snapshots derived from it: a directory moved to another catalog is rebuilt.
INSERT INTO neardup_meta(name, value) VALUES ('schema_version', '0'), ('generation', '1'), ('catalog_id', gen_random_uuid()::text);
CREATE SEQUENCE neardup_image_ids;
CREATE SEQUENCE neardup_changes;
CREATE TABLE neardup_images(
  id BIGINT PRIMARY KEY,
  key TEXT COLLATE "C" NOT NULL,
  sha256 BYTEA NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  added_at BIGINT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('active', 'deleted')),
  labels TEXT NOT NULL DEFAULT '{}',
  source TEXT NOT NULL DEFAULT '',
  signature BYTEA NOT NULL,
  changed BIGINT NOT NULL,
  key_hash BIGINT NOT NULL  -- shard.hpp's key_hash32: a shard's rows are key_hash % count = index
);
CREATE UNIQUE INDEX neardup_images_active_key ON neardup_images(key) WHERE status = 'active';
CREATE INDEX neardup_images_changed ON neardup_images(changed);
CREATE TABLE neardup_thumbnails(id BIGINT PRIMARY KEY, jpeg BYTEA NOT NULL);
)sql",
};
constexpr int kLatest = static_cast<int>(std::size(kMigrations));
static_assert(kLatest == PostgresCatalog::kSchemaVersion);

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// libpq's messages end in a newline.
std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// Query parameters: integers and text as text, byte strings in binary (no escaping either way).
class Params {
public:
    Params& add(std::int64_t v) { return push(std::to_string(v), 0); }
    Params& add(const std::string& v) { return push(v, 0); }
    Params& add_bytes(const void* p, std::size_t n) { return push(std::string(static_cast<const char*>(p), n), 1); }
    int size() const { return static_cast<int>(values_.size()); }
    // Pointers into values_: taken once every parameter is in.
    void finish() {
        pointers_.clear();
        for (const auto& v : values_) pointers_.push_back(v.data());
    }
    const char* const* values() const { return pointers_.data(); }
    const int* lengths() const { return lengths_.data(); }
    const int* formats() const { return formats_.data(); }

private:
    Params& push(std::string v, int format) {
        lengths_.push_back(static_cast<int>(v.size()));
        formats_.push_back(format);
        values_.push_back(std::move(v));
        return *this;
    }
    std::vector<std::string> values_;
    std::vector<const char*> pointers_;
    std::vector<int> lengths_, formats_;
};

// A result in binary format: integers arrive big-endian, text and bytea as their bytes.
class Rows {
public:
    explicit Rows(PGresult* r) : r_(r) {}
    ~Rows() { PQclear(r_); }
    Rows(Rows&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
    Rows(const Rows&) = delete;
    Rows& operator=(const Rows&) = delete;
    Rows& operator=(Rows&&) = delete;

    bool ok() const {
        const auto status = r_ ? PQresultStatus(r_) : PGRES_FATAL_ERROR;
        return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    }
    std::string error() const { return r_ ? PQresultErrorMessage(r_) : ""; }
    std::string sqlstate() const {
        const char* code = r_ ? PQresultErrorField(r_, PG_DIAG_SQLSTATE) : nullptr;
        return code ? code : "";
    }
    int size() const { return PQntuples(r_); }
    bool null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
    std::int64_t int64(int row, int col) const {
        const char* p = PQgetvalue(r_, row, col);
        switch (PQgetlength(r_, row, col)) {
            case 8: {
                std::uint64_t v;
                std::memcpy(&v, p, 8);
                return static_cast<std::int64_t>(be64toh(v));
            }
            case 4: {
                std::uint32_t v;
                std::memcpy(&v, p, 4);
                return static_cast<std::int32_t>(be32toh(v));
            }
            default: return 0;  // NULL
        }
    }
    std::string text(int row, int col) const { return {PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col))}; }
    std::span<const std::uint8_t> bytes(int row, int col) const {
        return {reinterpret_cast<const std::uint8_t*>(PQgetvalue(r_, row, col)), static_cast<std::size_t>(PQgetlength(r_, row, col))};
    }

private:
    PGresult* r_;
};

constexpr const char* kEntryColumns = "id, key, sha256, width, height, added_at, status, labels, source";

CatalogEntry read_entry(const Rows& r, int row) {
    CatalogEntry e;
    e.id = r.int64(row, 0);
    e.key = r.text(row, 1);
    const auto sha = r.bytes(row, 2);
    if (sha.size() == e.sha256.size()) std::memcpy(e.sha256.data(), sha.data(), sha.size());
    e.width = static_cast<std::uint32_t>(r.int64(row, 3));
    e.height = static_cast<std::uint32_t>(r.int64(row, 4));
    e.added_at_ms = r.int64(row, 5);
    e.active = r.text(row, 6) == "active";
    const auto labels = nlohmann::json::parse(r.text(row, 7));  // named: items() must not outlive it
    for (const auto& [name, value] : labels.items()) e.labels[name] = value.get<std::string>();
    e.source = r.text(row, 8);
    return e;
}

// A connection URI with its password left out, for messages.
std::string describe_url(const std::string& url) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
    if (!options) {
        const std::string message = error ? error : "out of memory";
        PQfreemem(error);
        throw StoreError("the catalog address is not a valid PostgreSQL connection URI: " + trim(message));
    }
    std::string host = "localhost", port = "5432", dbname, user;
    for (auto* o = options; o->keyword; ++o) {
        if (!o->val || !*o->val) continue;
        const std::string k = o->keyword;
        if (k == "host") host = o->val;
        else if (k == "port") port = o->val;
        else if (k == "dbname") dbname = o->val;
        else if (k == "user") user = o->val;
    }
    PQconninfoFree(options);
    if (dbname.empty()) dbname = user;
    return "PostgreSQL database " + dbname + " on " + host + ":" + port;
}

}  // namespace

struct PostgresCatalog::Connection {
    PGconn* conn = nullptr;
    std::mutex mutex;
    std::string where;
    bool read_only_session = false;

    Connection(const std::string& url, std::string description, bool read_only)
        : where(std::move(description)), read_only_session(read_only) {
        // Defaults the address may override (they come first): a connection attempt and a dead peer are
        // noticed within seconds, not after the system's TCP timeouts, while the follower holds the writer lock.
        const char* keywords[] = {"connect_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count", "dbname", nullptr};
        const char* values[] = {"10", "30", "10", "3", url.c_str(), nullptr};
        conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
        if (PQstatus(conn) != CONNECTION_OK) {
            const std::string message = conn ? PQerrorMessage(conn) : "out of memory";
            PQfinish(conn);
            throw StoreError("cannot connect to the catalog, " + where + ": " + trim(message));
        }
        try {
            configure();
        } catch (...) {
            PQfinish(conn);  // the destructor does not run for a constructor that throws
            throw;
        }
    }
    // Session settings, again after every reset (a new server session starts without them).
    void configure() {
        run("SET client_min_messages = warning");
        if (read_only_session) run("SET default_transaction_read_only = on");
    }
    ~Connection() { PQfinish(conn); }

    // Runs one statement with parameters, results in binary; StoreError with the server's message when it
    // fails. A connection the server dropped is reset once before the next statement (a transaction under way
    // fails instead, and its caller rolls back).
    Rows run(const char* sql, Params params = {}) {
        if (PQstatus(conn) == CONNECTION_BAD) {
            PQreset(conn);
            if (PQstatus(conn) == CONNECTION_OK) configure();
        }
        params.finish();
        Rows rows(PQexecParams(conn, sql, params.size(), nullptr, params.values(), params.lengths(), params.formats(), 1));
        if (!rows.ok()) {
            const std::string message = "catalog (" + where + "): " + trim(rows.error().empty() ? std::string(PQerrorMessage(conn)) : rows.error());
            if (rows.sqlstate() == "23505") throw KeyConflict(message);  // unique_violation: the active-key index
            throw StoreError(message);
        }
        return rows;
    }
    void begin_write() {
        run("BEGIN");
        try {
            run("SELECT pg_advisory_xact_lock($1)", Params().add(kWriteLock));
        } catch (...) {
            rollback();  // a lock_timeout or a cancel must not leave the session in an aborted transaction
            throw;
        }
    }
    void rollback() noexcept { PQclear(PQexec(conn, "ROLLBACK")); }
    // Several statements without parameters (the simple query protocol): a migration.
    void run_script(const char* sql) {
        Rows rows(PQexec(conn, sql));
        if (!rows.ok()) throw StoreError("catalog (" + where + "): " + trim(rows.error().empty() ? PQerrorMessage(conn) : rows.error()));
    }
    // Runs `fn` inside one write transaction (advisory write lock held until COMMIT); rolls back on any error.
    template <typename Fn>
    auto write(Fn&& fn) {
        std::lock_guard lock(mutex);
        begin_write();
        try {
            auto out = fn();
            run("COMMIT");
            return out;
        } catch (...) {
            rollback();
            throw;
        }
    }
    // 0 for a database without the catalog's tables.
    int schema_version() {
        const auto exists = run("SELECT to_regclass('neardup_meta') IS NOT NULL");
        if (exists.bytes(0, 0).empty() || exists.bytes(0, 0)[0] == 0) return 0;
        const auto v = run("SELECT value FROM neardup_meta WHERE name = 'schema_version'");
        return v.size() == 1 ? std::stoi(v.text(0, 0)) : 0;
    }
};


namespace {

std::string unsupported_version(const std::string& where, int version) {
    return "the catalog in " + where + " has schema version " + std::to_string(version) + ", newer than this build reads (" +
           std::to_string(kLatest) + "): upgrade neardup";
}

}  // namespace

PostgresCatalog::PostgresCatalog(const std::string& url, CatalogMode mode) : url_(url), description_(describe_url(url)) {
    const bool read_only = mode == CatalogMode::read_only;
    auto first = std::make_unique<Connection>(url, description_, read_only);
    if (read_only || mode == CatalogMode::write) {
        const int version = first->schema_version();
        if (version == 0)
            throw StoreError("no neardup catalog in " + description_ + ": create one with `neardup index --catalog URL --db DIR PATH...`");
        if (version > kLatest) throw StoreError(unsupported_version(description_, version));
        if (version < kLatest && read_only)
            throw StoreError("the catalog in " + description_ + " has schema version " + std::to_string(version) +
                             ": open it for writing once to migrate it to version " + std::to_string(kLatest));
    }
    if (!read_only) {
        // Migrations one version at a time, under one advisory lock so that processes starting together apply
        // each once.
        std::lock_guard lock(first->mutex);
        first->run("BEGIN");
        try {
            first->run("SELECT pg_advisory_xact_lock($1)", Params().add(kSchemaLock));
            const int version = first->schema_version();
            if (version > kLatest) throw StoreError(unsupported_version(description_, version));
            for (int v = version; v < kLatest; ++v) {
                first->run_script(kMigrations[v]);
                first->run("UPDATE neardup_meta SET value = $1 WHERE name = 'schema_version'", Params().add(std::to_string(v + 1)));
            }
            first->run("COMMIT");
        } catch (...) {
            first->rollback();
            throw;
        }
        writer_ = std::move(first);
    } else {
        readers_.push_back(std::move(first));
    }
    while (readers_.size() < kReaders) readers_.push_back(std::make_unique<Connection>(url, description_, read_only));
    Connection* c = nullptr;
    const auto lock = reader(c);
    const auto id = c->run("SELECT value FROM neardup_meta WHERE name = 'catalog_id'");
    if (id.size() == 1) identity_ = id.text(0, 0);
}

PostgresCatalog::~PostgresCatalog() = default;

std::unique_lock<std::mutex> PostgresCatalog::reader(Connection*& c) const { return detail::lock_a_reader(readers_, next_reader_, c); }

std::optional<CatalogEntry> PostgresCatalog::find_active(const std::string& key) const {
    Connection* c = nullptr;
    const auto lock = reader(c);
    const auto r = c->run((std::string("SELECT ") + kEntryColumns + " FROM neardup_images WHERE key = $1 AND status = 'active'").c_str(),
                          Params().add(key));
    if (r.size() == 0) return std::nullopt;
    return read_entry(r, 0);
}

std::optional<CatalogEntry> PostgresCatalog::find_by_id(std::int64_t id, std::vector<std::uint8_t>* signature) const {
    Connection* c = nullptr;
    const auto lock = reader(c);
    const auto r = c->run((std::string("SELECT ") + kEntryColumns + (signature ? ", signature" : "") + " FROM neardup_images WHERE id = $1").c_str(),
                          Params().add(id));
    if (r.size() == 0) return std::nullopt;
    if (signature) {
        const auto b = r.bytes(0, 9);
        signature->assign(b.begin(), b.end());
    }
    return read_entry(r, 0);
}

std::vector<std::uint8_t> PostgresCatalog::signature(std::int64_t id) const {
    Connection* c = nullptr;
    const auto lock = reader(c);
    const auto r = c->run("SELECT signature FROM neardup_images WHERE id = $1", Params().add(id));
    if (r.size() == 0) return {};
    const auto b = r.bytes(0, 0);
    return {b.begin(), b.end()};
}

std::vector<std::int64_t> PostgresCatalog::insert(const std::vector<NewEntry>& entries) {
    if (!writer_) throw StoreError("catalog: opened read-only");
    if (entries.empty()) return {};
    return writer_->write([&] {
        std::vector<std::int64_t> ids;
        for (const auto& e : entries) {
            if (e.replace)
                writer_->run("UPDATE neardup_images SET status = 'deleted', changed = nextval('neardup_changes') WHERE key = $1 AND status = 'active'",
                             Params().add(e.key));
            const auto r = writer_->run(
                "INSERT INTO neardup_images(id, key, sha256, width, height, added_at, status, labels, source, signature, changed, key_hash) "
                "VALUES (nextval('neardup_image_ids'), $1, $2, $3, $4, $5, 'active', $6, $7, $8, nextval('neardup_changes'), $9) RETURNING id",
                Params()
                    .add(e.key)
                    .add_bytes(e.sha256.data(), e.sha256.size())
                    .add(static_cast<std::int64_t>(e.width))
                    .add(static_cast<std::int64_t>(e.height))
                    .add(now_ms())
                    .add(nlohmann::json(e.labels).dump())
                    .add(e.source)
                    .add_bytes(e.signature.data(), e.signature.size())
                    .add(static_cast<std::int64_t>(key_hash32(e.key))));
            ids.push_back(r.int64(0, 0));
            if (!e.thumbnail.empty())
                writer_->run("INSERT INTO neardup_thumbnails(id, jpeg) VALUES ($1, $2)",
                             Params().add(ids.back()).add_bytes(e.thumbnail.data(), e.thumbnail.size()));
        }
        writer_->run("SELECT pg_notify($1, currval('neardup_changes')::text)", Params().add(std::string(kChannel)));
        return ids;
    });
}

std::optional<std::int64_t> PostgresCatalog::deactivate(const std::string& key) {
    if (!writer_) throw StoreError("catalog: opened read-only");
    return writer_->write([&]() -> std::optional<std::int64_t> {
        const auto r = writer_->run(
            "UPDATE neardup_images SET status = 'deleted', changed = nextval('neardup_changes') WHERE key = $1 AND status = 'active' RETURNING id",
            Params().add(key));
        if (r.size() == 0) return std::nullopt;
        writer_->run("SELECT pg_notify($1, currval('neardup_changes')::text)", Params().add(std::string(kChannel)));
        return r.int64(0, 0);
    });
}

void PostgresCatalog::scan(std::int64_t after_id, std::int64_t last_id,
                           const std::function<void(std::int64_t, bool, std::span<const std::uint8_t>)>& fn, const Shard& shard) const {
    for (std::int64_t from = after_id;;) {
        std::optional<Rows> page;
        {
            Connection* c = nullptr;
            const auto lock = reader(c);
            // The shard is chosen by the server (key_hash holds shard.hpp's hash), so other shards' signatures
            // never cross the network.
            page.emplace(c->run("SELECT id, status, signature FROM neardup_images WHERE id > $1 AND id <= $2 AND key_hash % $4 = $5 "
                                "ORDER BY id LIMIT $3",
                                Params().add(from).add(last_id).add(std::int64_t{kScanPage}).add(std::int64_t{shard.count}).add(std::int64_t{shard.index})));
        }
        for (int i = 0; i < page->size(); ++i) fn(page->int64(i, 0), page->text(i, 1) == "active", page->bytes(i, 2));
        if (page->size() < kScanPage) return;
        from = page->int64(page->size() - 1, 0);
    }
}

void PostgresCatalog::scan_active(const std::function<void(const CatalogEntry&, std::span<const std::uint8_t>)>& fn) const {
    // Pages by key: a row whose key was replaced between pages is seen as it is when its page is read.
    for (std::string from;;) {
        std::optional<Rows> page;
        {
            Connection* c = nullptr;
            const auto lock = reader(c);
            page.emplace(c->run((std::string("SELECT ") + kEntryColumns +
                                 ", signature FROM neardup_images WHERE status = 'active' AND key > $1 ORDER BY key LIMIT $2").c_str(),
                                Params().add(from).add(std::int64_t{kScanPage})));
        }
        for (int i = 0; i < page->size(); ++i) fn(read_entry(*page, i), page->bytes(i, 9));
        if (page->size() < kScanPage) return;
        from = page->text(page->size() - 1, 1);
    }
}

std::optional<std::vector<std::uint8_t>> PostgresCatalog::thumbnail(std::int64_t id) const {
    Connection* c = nullptr;
    const auto lock = reader(c);
    const auto r = c->run("SELECT jpeg FROM neardup_thumbnails WHERE id = $1", Params().add(id));
    if (r.size() == 0) return std::nullopt;
    const auto b = r.bytes(0, 0);
    return std::vector<std::uint8_t>(b.begin(), b.end());
}

std::vector<CatalogEntry> PostgresCatalog::without_thumbnail(std::int64_t after_id, std::size_t limit) const {
    Connection* c = nullptr;
    const auto lock = reader(c);
    const auto r = c->run((std::string("SELECT ") + kEntryColumns +
                           " FROM neardup_images i WHERE status = 'active' AND width > 0 AND id > $1"
                           " AND NOT EXISTS (SELECT 1 FROM neardup_thumbnails t WHERE t.id = i.id) ORDER BY id LIMIT $2").c_str(),
                          Params().add(after_id).add(static_cast<std::int64_t>(limit)));
    std::vector<CatalogEntry> out;
    for (int i = 0; i < r.size(); ++i) out.push_back(read_entry(r, i));
    return out;
}

void PostgresCatalog::set_thumbnail(std::int64_t id, std::span<const std::uint8_t> jpeg) {
    if (!writer_) throw StoreError("catalog: opened read-only");
    std::lock_guard lock(writer_->mutex);
    writer_->run("INSERT INTO neardup_thumbnails(id, jpeg) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET jpeg = EXCLUDED.jpeg",
                 Params().add(id).add_bytes(jpeg.data(), jpeg.size()));
}

std::vector<CatalogEntry> PostgresCatalog::list_active(const std::string& after_key, const std::string& prefix, const Labels& labels,
                                                       std::size_t limit, std::size_t max_scanned, std::string* resume_after) const {
    // Keys in order from after_key on, a page at a time; the prefix bounds the range, labels are checked here
    // (they are JSON), exactly as the SQLite backend does.
    std::vector<CatalogEntry> out;
    std::size_t scanned = 0;
    if (resume_after) resume_after->clear();
    if (limit == 0) return out;
    std::string from = after_key;
    const std::int64_t page_rows = static_cast<std::int64_t>(std::min<std::size_t>(std::max<std::size_t>(limit, 1) + 1, kScanPage));
    while (out.size() < limit) {
        std::optional<Rows> page;
        {
            Connection* c = nullptr;
            const auto lock = reader(c);
            page.emplace(c->run((std::string("SELECT ") + kEntryColumns +
                                 " FROM neardup_images WHERE status = 'active' AND key > $1 AND key >= $2 ORDER BY key LIMIT $3").c_str(),
                                Params().add(from).add(prefix).add(page_rows)));
        }
        for (int i = 0; i < page->size(); ++i) {
            CatalogEntry e = read_entry(*page, i);
            if (!e.key.starts_with(prefix)) return out;
            if (out.size() == limit) {  // one more row of the prefix exists
                if (resume_after) *resume_after = out.back().key;
                return out;
            }
            ++scanned;
            from = e.key;
            if (has_labels(e.labels, labels)) out.push_back(std::move(e));
            if (scanned >= max_scanned && out.size() < limit) {  // a rare label: hand back a cursor
                if (resume_after) *resume_after = from;
                return out;
            }
        }
        if (page->size() < page_rows) return out;
    }
    // Full: is there a next row of the prefix?
    Connection* c = nullptr;
    const auto lock = reader(c);
    const auto next = c->run("SELECT key FROM neardup_images WHERE status = 'active' AND key > $1 ORDER BY key LIMIT 1", Params().add(from));
    if (resume_after && next.size() == 1 && next.text(0, 0).starts_with(prefix)) *resume_after = out.back().key;
    return out;
}

std::vector<std::int64_t> PostgresCatalog::inactive_ids(const Shard& shard) const {
    Connection* c = nullptr;
    const auto lock = reader(c);
    const auto r = c->run("SELECT id FROM neardup_images WHERE status = 'deleted' AND key_hash % $1 = $2",
                          Params().add(std::int64_t{shard.count}).add(std::int64_t{shard.index}));
    std::vector<std::int64_t> out;
    for (int i = 0; i < r.size(); ++i) out.push_back(r.int64(i, 0));
    return out;
}

std::int64_t PostgresCatalog::max_id() const {
    Connection* c = nullptr;
    const auto lock = reader(c);
    return c->run("SELECT COALESCE(MAX(id), 0)::bigint FROM neardup_images").int64(0, 0);
}

std::int64_t PostgresCatalog::active_count() const {
    Connection* c = nullptr;
    const auto lock = reader(c);
    return c->run("SELECT COUNT(*) FROM neardup_images WHERE status = 'active'").int64(0, 0);
}

std::int64_t PostgresCatalog::generation() const {
    Connection* c = nullptr;
    const auto lock = reader(c);
    return c->run("SELECT value::bigint FROM neardup_meta WHERE name = 'generation'").int64(0, 0);
}

// Settings share neardup_meta with schema_version and generation, under their own prefix.
std::optional<std::string> PostgresCatalog::setting(const std::string& name) const {
    Connection* c = nullptr;
    const auto lock = reader(c);
    const auto r = c->run("SELECT value FROM neardup_meta WHERE name = $1", Params().add("setting." + name));
    if (r.size() == 0) return std::nullopt;
    return r.text(0, 0);
}

std::string PostgresCatalog::claim_setting(const std::string& name, const std::string& value) {
    if (!writer_) throw StoreError("catalog: opened read-only");
    writer_->write([&] {
        writer_->run("INSERT INTO neardup_meta(name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                     Params().add("setting." + name).add(value));
        return 0;
    });
    return setting(name).value_or(value);
}

std::int64_t PostgresCatalog::purge_inactive() {
    if (!writer_) throw StoreError("catalog: opened read-only");
    return writer_->write([&] {
        const auto r = writer_->run("WITH gone AS (DELETE FROM neardup_images WHERE status = 'deleted' RETURNING id) SELECT COUNT(*) FROM gone");
        writer_->run("DELETE FROM neardup_thumbnails t WHERE NOT EXISTS (SELECT 1 FROM neardup_images i WHERE i.id = t.id)");
        writer_->run("UPDATE neardup_meta SET value = (value::bigint + 1)::text WHERE name = 'generation'");
        writer_->run("SELECT pg_notify($1, 'compacted')", Params().add(std::string(kChannel)));
        return r.int64(0, 0);
    });
}

std::int64_t PostgresCatalog::last_change() const {
    // Of the committed rows: a write under way takes its change numbers after them (it holds the write lock
    // that the last commit released). After a compaction this may go down, and changes are seen again.
    Connection* c = nullptr;
    const auto lock = reader(c);
    return c->run("SELECT COALESCE(MAX(changed), 0)::bigint FROM neardup_images").int64(0, 0);
}

std::vector<CatalogChange> PostgresCatalog::changes_after(std::int64_t cursor, std::size_t limit, const Shard& shard) const {
    Connection* c = nullptr;
    const auto lock = reader(c);
    const auto r = c->run("SELECT changed, id, (status = 'active')::int FROM neardup_images WHERE changed > $1 AND key_hash % $3 = $4 "
                          "ORDER BY changed LIMIT $2",
                          Params().add(cursor).add(static_cast<std::int64_t>(limit)).add(std::int64_t{shard.count}).add(std::int64_t{shard.index}));
    std::vector<CatalogChange> out(static_cast<std::size_t>(r.size()));
    for (int i = 0; i < r.size(); ++i) out[static_cast<std::size_t>(i)] = {r.int64(i, 0), r.int64(i, 1), r.int64(i, 2) != 0};
    return out;
}

bool PostgresCatalog::wait_for_changes(std::chrono::milliseconds timeout) const {
    std::lock_guard lock(listener_mutex_);
    try {
        if (!listener_ || PQstatus(listener_->conn) != CONNECTION_OK) {
            listener_.reset();
            listener_ = std::make_unique<Connection>(url_, description_, true);
            listener_->run((std::string("LISTEN ") + kChannel).c_str());
        }
    } catch (const StoreError&) {
        listener_.reset();  // the server is away: the caller polls on its timeout, and the next call retries
        std::this_thread::sleep_for(timeout);
        return false;
    }
    PGconn* conn = listener_->conn;
    const auto drain = [&] {
        bool any = false;
        PQconsumeInput(conn);
        while (PGnotify* n = PQnotifies(conn)) {
            any = true;
            PQfreemem(n);
        }
        return any;
    };
    if (drain()) return true;
    pollfd fd{PQsocket(conn), POLLIN, 0};
    if (fd.fd < 0 || poll(&fd, 1, static_cast<int>(timeout.count())) <= 0) return false;
    return drain();
}

std::vector<std::string> PostgresCatalog::integrity_problems(bool quick) const {
    Connection* c = nullptr;
    const auto lock = reader(c);
    std::vector<std::string> problems;
    const int version = c->schema_version();
    if (version != kLatest) problems.push_back("schema version " + std::to_string(version) + ", this build reads " + std::to_string(kLatest));
    if (quick || !problems.empty()) return problems;
    const auto ids = c->run("SELECT COALESCE(MAX(id), 0)::bigint, (SELECT last_value FROM neardup_image_ids) FROM neardup_images");
    if (ids.int64(0, 0) > ids.int64(0, 1))
        problems.push_back("row id " + std::to_string(ids.int64(0, 0)) + " is beyond the id sequence (" + std::to_string(ids.int64(0, 1)) +
                           "): new rows would reuse ids");
    const auto orphans = c->run("SELECT COUNT(*) FROM neardup_thumbnails t WHERE NOT EXISTS (SELECT 1 FROM neardup_images i WHERE i.id = t.id)");
    if (orphans.int64(0, 0) > 0) problems.push_back(std::to_string(orphans.int64(0, 0)) + " thumbnails of no row");
    for (const char* table : {"neardup_images", "neardup_thumbnails"}) {
        // Reading every row through its table is what a damaged page would fail.
        c->run((std::string("SELECT COUNT(*) FROM ") + table).c_str());
    }
    return problems;
}

}  // namespace neardup::store
