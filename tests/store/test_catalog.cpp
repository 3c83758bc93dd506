// The catalog's semantics, one suite run against each backend: SQLite (the directory's own file) and
// PostgreSQL (a server the tests start in a temporary directory).
#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "neardup/store/catalog.hpp"
#include "neardup/store/postgres_catalog.hpp"
#include "neardup/store/sqlite_catalog.hpp"
#include "support/store_error.hpp"
#include "support/postgres_server.hpp"
#include "support/temp_dir.hpp"

using namespace neardup::store;
using neardup::test::PostgresServer;
using neardup::test::TempDir;

namespace {

struct SqliteBackend {
    TempDir dir;
    std::unique_ptr<Catalog> open(CatalogMode mode = CatalogMode::create) const {
        return std::make_unique<SqliteCatalog>(dir / "catalog.sqlite", mode);
    }
};

struct PostgresBackend {
    std::string url = PostgresServer::shared().fresh_database();
    std::unique_ptr<Catalog> open(CatalogMode mode = CatalogMode::create) const { return std::make_unique<PostgresCatalog>(url, mode); }
};

NewEntry entry(const std::string& key, std::uint8_t tag, Labels labels = {}, bool replace = false) {
    NewEntry e;
    e.key = key;
    e.labels = std::move(labels);
    e.sha256.fill(tag);
    e.width = 100u + tag;
    e.height = 50;
    e.source = "/photos/" + key + ".jpg";
    e.signature = {tag, 0, 255, tag, 7};
    e.thumbnail = {0xff, 0xd8, tag};
    e.replace = replace;
    return e;
}

}  // namespace

TEMPLATE_TEST_CASE("catalog: rows round-trip with every field, ids grow and are never reused", "[store][catalog]", SqliteBackend,
                   PostgresBackend) {
    const TestType backend;
    const auto catalog = backend.open();
    CHECK(catalog->max_id() == 0);
    CHECK(catalog->generation() == 1);
    CHECK_FALSE(catalog->find_active("shoe"));
    CHECK_FALSE(catalog->find_by_id(1));
    CHECK(catalog->signature(1).empty());

    const auto ids = catalog->insert({entry("shoe", 1, {{"brand", "acme"}, {"case", "c-7"}}), entry("bag", 2)});
    REQUIRE(ids.size() == 2);
    CHECK(ids[1] > ids[0]);
    const auto shoe = catalog->find_active("shoe");
    REQUIRE(shoe);
    CHECK(shoe->id == ids[0]);
    CHECK(shoe->labels == Labels{{"brand", "acme"}, {"case", "c-7"}});
    CHECK(shoe->sha256 == entry("shoe", 1).sha256);
    CHECK(shoe->width == 101);
    CHECK(shoe->height == 50);
    CHECK(shoe->source == "/photos/shoe.jpg");
    CHECK(shoe->active);
    CHECK(shoe->added_at_ms > 1'700'000'000'000);
    std::vector<std::uint8_t> signature;
    const auto bag = catalog->find_by_id(ids[1], &signature);
    REQUIRE(bag);
    CHECK(bag->key == "bag");
    CHECK(signature == entry("bag", 2).signature);
    CHECK(catalog->signature(ids[0]) == entry("shoe", 1).signature);
    CHECK(catalog->thumbnail(ids[0]) == std::optional(entry("shoe", 1).thumbnail));
    CHECK(catalog->max_id() == ids[1]);
    CHECK(catalog->active_count() == 2);

    // Removing the highest row for good must not hand its id out again: snapshots key on ids.
    CHECK(catalog->deactivate("bag") == ids[1]);
    CHECK(catalog->purge_inactive() == 1);
    CHECK(catalog->generation() == 2);
    const auto again = catalog->insert({entry("bag", 3)});
    CHECK(again[0] > ids[1]);
    CHECK_FALSE(catalog->thumbnail(ids[1]));
}

TEMPLATE_TEST_CASE("catalog: replace, delete and compaction keep one active row per key", "[store][catalog]", SqliteBackend, PostgresBackend) {
    const TestType backend;
    const auto catalog = backend.open();
    const auto first = catalog->insert({entry("shoe", 1), entry("bag", 2)});
    const auto second = catalog->insert({entry("shoe", 3, {}, true)});
    CHECK(catalog->find_active("shoe")->id == second[0]);
    CHECK(catalog->inactive_ids() == std::vector<std::int64_t>{first[0]});
    CHECK(catalog->active_count() == 2);

    std::vector<std::pair<std::int64_t, bool>> rows;
    catalog->scan(0, catalog->max_id(), [&](std::int64_t id, bool active, std::span<const std::uint8_t> signature) {
        rows.emplace_back(id, active);
        CHECK(signature.size() == 5);
    });
    CHECK(rows == std::vector<std::pair<std::int64_t, bool>>{{first[0], false}, {first[1], true}, {second[0], true}});
    rows.clear();
    catalog->scan(first[0], first[1], [&](std::int64_t id, bool active, std::span<const std::uint8_t>) { rows.emplace_back(id, active); });
    CHECK(rows == std::vector<std::pair<std::int64_t, bool>>{{first[1], true}});

    // A second active row of a key without replace is refused, and the whole batch with it.
    const auto before = catalog->max_id();
    CHECK_THROWS_AS(catalog->insert({entry("hat", 4), entry("bag", 5)}), KeyConflict);
    CHECK_FALSE(catalog->find_active("hat"));
    CHECK(catalog->active_count() == 2);
    CHECK(catalog->max_id() == before);

    CHECK(catalog->deactivate("bag") == first[1]);
    CHECK_FALSE(catalog->deactivate("bag"));
    CHECK_FALSE(catalog->deactivate("never"));
    CHECK(catalog->purge_inactive() == 2);
    CHECK(catalog->inactive_ids().empty());
    CHECK_FALSE(catalog->find_by_id(first[0]));
    CHECK(catalog->find_active("shoe")->id == second[0]);
    CHECK(catalog->purge_inactive() == 0);
    CHECK(catalog->generation() == 3);
}

TEMPLATE_TEST_CASE("catalog: listings page in bytewise key order by prefix and labels", "[store][catalog]", SqliteBackend, PostgresBackend) {
    const TestType backend;
    const auto catalog = backend.open();
    // Bytewise: upper case before lower case, and UTF-8 after ASCII, whatever the server's collation.
    std::vector<NewEntry> rows;
    std::uint8_t tag = 0;
    for (const char* key : {"shoe/b", "shoe/A", "shoe/\xc3\xa9", "shoe/a", "bag/1", "shoes", "shoe/c"})
    {
        ++tag;
        rows.push_back(entry(key, tag, tag % 2 ? Labels{{"brand", "acme"}} : Labels{}));
    }
    catalog->insert(rows);

    std::vector<std::string> keys;
    catalog->scan_active([&](const CatalogEntry& e, std::span<const std::uint8_t>) { keys.push_back(e.key); });
    CHECK(keys == std::vector<std::string>{"bag/1", "shoe/A", "shoe/a", "shoe/b", "shoe/c", "shoe/\xc3\xa9", "shoes"});

    // Two at a time through the prefix: the cursor resumes, and is empty after the last page.
    std::vector<std::string> paged;
    std::string after, next;
    do {
        const auto page = catalog->list_active(after, "shoe/", {}, 2, 1000, &next);
        for (const auto& e : page) paged.push_back(e.key);
        CHECK(page.size() <= 2);
        after = next;
    } while (!next.empty());
    CHECK(paged == std::vector<std::string>{"shoe/A", "shoe/a", "shoe/b", "shoe/c", "shoe/\xc3\xa9"});

    // Labels filter; a scan bound hands back a cursor rather than reading on.
    const auto acme = catalog->list_active("", "shoe", {{"brand", "acme"}}, 10, 1000, &next);
    std::vector<std::string> acme_keys;
    for (const auto& e : acme) acme_keys.push_back(e.key);
    CHECK(acme_keys == std::vector<std::string>{"shoe/b", "shoe/c", "shoe/\xc3\xa9"});
    CHECK(next.empty());
    const auto bounded = catalog->list_active("", "shoe/", {{"brand", "nobody"}}, 10, 3, &next);
    CHECK(bounded.empty());
    CHECK(next == "shoe/b");
}

TEMPLATE_TEST_CASE("catalog: thumbnails are set, replaced and listed where missing", "[store][catalog]", SqliteBackend, PostgresBackend) {
    const TestType backend;
    const auto catalog = backend.open();
    auto without = entry("plain", 1);
    without.thumbnail.clear();
    auto hash_only = entry("hash", 2);
    hash_only.thumbnail.clear();
    hash_only.width = hash_only.height = 0;
    const auto ids = catalog->insert({without, hash_only, entry("with", 3)});
    const auto missing = catalog->without_thumbnail(0, 10);
    REQUIRE(missing.size() == 1);  // hash-only rows have no image to make one from
    CHECK(missing[0].id == ids[0]);
    CHECK(catalog->without_thumbnail(ids[0], 10).empty());
    const std::vector<std::uint8_t> jpeg = {1, 2, 3}, other = {4, 5};
    catalog->set_thumbnail(ids[0], jpeg);
    CHECK(catalog->thumbnail(ids[0]) == std::optional(jpeg));
    catalog->set_thumbnail(ids[0], other);
    CHECK(catalog->thumbnail(ids[0]) == std::optional(other));
    CHECK(catalog->without_thumbnail(0, 10).empty());
}

TEMPLATE_TEST_CASE("catalog: long scans read every row once, in order", "[store][catalog]", SqliteBackend, PostgresBackend) {
    const TestType backend;
    const auto catalog = backend.open();
    std::vector<NewEntry> rows;
    for (int i = 0; i < 1300; ++i) {  // more than two of the PostgreSQL backend's pages
        rows.push_back(entry("k" + std::to_string(10000 + i), static_cast<std::uint8_t>(i)));
        rows.back().thumbnail.clear();
    }
    const auto ids = catalog->insert(rows);
    std::vector<std::int64_t> seen;
    catalog->scan(ids[0] - 1, ids.back(), [&](std::int64_t id, bool, std::span<const std::uint8_t>) { seen.push_back(id); });
    CHECK(seen == ids);
    std::size_t n = 0;
    std::string last;
    catalog->scan_active([&](const CatalogEntry& e, std::span<const std::uint8_t> signature) {
        CHECK(e.key > last);
        CHECK(signature.size() == 5);
        last = e.key;
        ++n;
    });
    CHECK(n == rows.size());
}

TEMPLATE_TEST_CASE("catalog: a scan by shard gives the rows whose keys the shard owns, every row in exactly one shard", "[store][catalog][shard]",
                   SqliteBackend, PostgresBackend) {
    const TestType backend;
    const auto catalog = backend.open();
    std::vector<NewEntry> rows;
    for (int i = 0; i < 60; ++i) rows.push_back(entry("key-" + std::to_string(i), static_cast<std::uint8_t>(i)));
    const auto ids = catalog->insert(rows);
    catalog->deactivate("key-7");
    std::vector<std::int64_t> all;
    for (int k = 0; k < 3; ++k) {
        const Shard shard{k, 3};
        std::vector<std::int64_t> got;
        catalog->scan(0, ids.back(), [&](std::int64_t id, bool active, std::span<const std::uint8_t>) {
            got.push_back(id);
            CHECK(active == (id != ids[7]));
        }, shard);
        std::vector<std::int64_t> want;
        for (std::size_t i = 0; i < rows.size(); ++i)
            if (shard.owns(rows[i].key)) want.push_back(ids[i]);
        CHECK(got == want);
        CHECK_FALSE(got.empty());
        all.insert(all.end(), got.begin(), got.end());
    }
    std::sort(all.begin(), all.end());
    CHECK(all == ids);
}

TEMPLATE_TEST_CASE("catalog: modes: write needs a catalog, read-only refuses writes and sees committed rows", "[store][catalog][bad_input]",
                   SqliteBackend, PostgresBackend) {
    const TestType backend;
    CHECK_THROWS_AS(backend.open(CatalogMode::write), StoreError);
    CHECK_THROWS_AS(backend.open(CatalogMode::read_only), StoreError);
    const auto writer = backend.open();
    writer->insert({entry("shoe", 1)});
    const auto reader = backend.open(CatalogMode::read_only);
    CHECK(reader->read_only());
    CHECK_FALSE(writer->read_only());
    CHECK(reader->find_active("shoe"));
    CHECK(neardup::test::store_error_of([&] { reader->insert({entry("bag", 2)}); }) == "catalog: opened read-only");
    CHECK(neardup::test::store_error_of([&] { reader->deactivate("shoe"); }) == "catalog: opened read-only");
    writer->insert({entry("bag", 2)});
    CHECK(reader->find_active("bag"));  // a reader follows the writer's commits
    CHECK(reader->integrity_problems(false).empty());
    CHECK(backend.open(CatalogMode::write)->active_count() == 2);
}

TEMPLATE_TEST_CASE("catalog: writers on two connections at once lose nothing and share one id sequence", "[store][catalog][concurrency]",
                   SqliteBackend, PostgresBackend) {
    const TestType backend;
    const auto a = backend.open();
    const auto b = backend.open(CatalogMode::write);
    constexpr int kPerThread = 40;
    std::vector<std::vector<std::int64_t>> ids(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            Catalog& c = t % 2 ? *b : *a;
            for (int i = 0; i < kPerThread; ++i) {
                const auto got = c.insert({entry("t" + std::to_string(t) + "-" + std::to_string(i), static_cast<std::uint8_t>(i))});
                ids[t].push_back(got[0]);
            }
        });
    for (auto& t : threads) t.join();
    std::set<std::int64_t> all;
    for (const auto& v : ids) {
        CHECK(std::is_sorted(v.begin(), v.end()));  // each writer's rows in its commit order
        all.insert(v.begin(), v.end());
    }
    CHECK(all.size() == 4 * kPerThread);
    CHECK(a->active_count() == 4 * kPerThread);
    CHECK(b->max_id() == *all.rbegin());
}

TEST_CASE("PostgreSQL catalog: a bad address or an unreachable server is a clear error without the password", "[store][catalog][bad_input]") {
    CHECK(neardup::test::store_error_of([] { PostgresCatalog("postgresql://user:secret@/db?nosuchoption=1"); })
              .starts_with("the catalog address is not a valid PostgreSQL connection URI: invalid URI query parameter"));
    const std::string unreachable = neardup::test::store_error_of([] { PostgresCatalog("postgresql://user:secret@/db?host=/nonexistent-neardup"); });
    CHECK(unreachable.starts_with("cannot connect to the catalog, PostgreSQL database db on /nonexistent-neardup:5432: "));
    CHECK(unreachable.find("secret") == std::string::npos);
    // A database without the catalog's tables, opened for writing or reading only.
    const std::string url = PostgresServer::shared().fresh_database();
    CHECK(neardup::test::store_error_of([&] { PostgresCatalog(url, CatalogMode::write); }).starts_with("no neardup catalog in PostgreSQL database test"));
    CHECK(is_postgres_url(url));
    CHECK_FALSE(is_postgres_url("/var/lib/neardup/catalog.sqlite"));
}

TEST_CASE("PostgreSQL catalog: a newer schema is refused, and two processes creating it at once make it once", "[store][catalog]") {
    const std::string url = PostgresServer::shared().fresh_database();
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] {
            try {
                PostgresCatalog c(url);
            } catch (const StoreError&) {
                ++failures;
            }
        });
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
    {
        PostgresCatalog c(url);
        c.insert({entry("shoe", 1)});
        CHECK(c.integrity_problems(false).empty());
    }
    // A later build migrated it: this one must refuse it rather than write rows it does not understand.
    PostgresServer::shared().execute(url, "UPDATE neardup_meta SET value = '2' WHERE name = 'schema_version'");
    CHECK(neardup::test::store_error_of([&] { PostgresCatalog(url, CatalogMode::write); }) ==
          "the catalog in PostgreSQL database " + url.substr(url.find("@/") + 2, url.find('?') - url.find("@/") - 2) + " on " +
              PostgresServer::shared().socket_dir().string() + ":5432 has schema version 2, newer than this build reads (1): upgrade neardup");
    CHECK_THROWS_AS(PostgresCatalog(url, CatalogMode::read_only), StoreError);
    CHECK_THROWS_AS(PostgresCatalog(url, CatalogMode::create), StoreError);
}

TEMPLATE_TEST_CASE("catalog: a setting is claimed once, kept across opens, and read back", "[store][catalog]", SqliteBackend, PostgresBackend) {
    const TestType backend;
    {
        const auto catalog = backend.open();
        CHECK_FALSE(catalog->setting("embedder"));
        CHECK(catalog->claim_setting("embedder", "model-a") == "model-a");
        CHECK(catalog->claim_setting("embedder", "model-b") == "model-a");  // the first claim stays
        CHECK(catalog->setting("embedder") == std::optional<std::string>("model-a"));
        CHECK_FALSE(catalog->setting("generation"));  // settings do not reach the catalog's own fields
        CHECK(catalog->generation() == 1);
    }
    const auto reopened = backend.open(CatalogMode::read_only);
    CHECK(reopened->setting("embedder") == std::optional<std::string>("model-a"));
    REQUIRE_THROWS_AS(reopened->claim_setting("other", "x"), StoreError);
}
