// Stores on a PostgreSQL catalog: the index directory holds only what each process derives from the shared
// catalog, and several processes (here: several stores, each with its own directory) read and write it.
#include <catch2/catch.hpp>

#include "neardup/store/store.hpp"
#include "support/postgres_server.hpp"
#include "support/sample_photos.hpp"
#include "support/temp_dir.hpp"

using namespace neardup;
using namespace neardup::store;

namespace {

StoreOptions on(const std::string& url, OpenMode mode = OpenMode::create) {
    StoreOptions o;
    o.catalog = url;
    o.mode = mode;
    return o;
}

std::vector<std::uint8_t> sample(const std::string& name) { return test::read_bytes(test::sample_photo(name)); }

}  // namespace

TEST_CASE("a store on a PostgreSQL catalog: add, unchanged, conflict, replace, search, delete, compact, reopen", "[store][catalog]") {
    const std::string url = test::PostgresServer::shared().fresh_database();
    test::TempDir dir;
    const auto dome = sample("dome.jpg"), coffee = sample("coffee.jpg"), pot = sample("pot-holder.jpg");
    {
        Store store(dir / "a", on(url));
        CHECK(store.add("dome", dome, {{"case", "c1"}}).value() == AddStatus::added);
        CHECK(store.add("coffee", coffee).value() == AddStatus::added);
        CHECK(store.add("dome", dome).value() == AddStatus::unchanged);
        CHECK(store.add("dome", coffee).value() == AddStatus::conflict);
        CHECK(store.add("pot", pot).value() == AddStatus::added);
        CHECK(store.add("pot", coffee, {}, true).value() == AddStatus::replaced);
        const auto hits = store.search(dome).value();
        REQUIRE_FALSE(hits.empty());
        CHECK(hits[0].key == "dome");
        CHECK(hits[0].match);
        CHECK(hits[0].labels.at("case") == "c1");
        CHECK(store.thumbnail("dome"));
        CHECK(store.remove("coffee"));
        CHECK(store.search(coffee).value().front().key == "pot");  // pot now holds coffee's bytes
        CHECK(store.stats().active == 2);
        CHECK(store.stats().inactive == 2);
        store.compact();
        CHECK(store.stats().inactive == 0);
        store.save_snapshot();
    }
    // Reopened from its snapshot, then again with no snapshot at all (a new machine): the same answers.
    for (const bool keep_snapshot : {true, false}) {
        if (!keep_snapshot) std::filesystem::remove_all(dir / "a");
        const Store store(dir / "a", on(url, OpenMode::read_only));
        CHECK(store.stats().loaded_from_snapshot == keep_snapshot);
        CHECK(store.stats().active == 2);
        CHECK(store.search(dome).value().front().key == "dome");
        CHECK_FALSE(store.get("coffee"));
        CHECK(store.check().healthy());
    }
}

TEST_CASE("stores in two directories share one PostgreSQL catalog: each sees the other's rows when it opens", "[store][catalog]") {
    const std::string url = test::PostgresServer::shared().fresh_database();
    test::TempDir dir;
    {
        Store a(dir / "a", on(url));
        Store b(dir / "b", on(url));  // its own directory lock: two processes on one catalog
        CHECK(a.add("dome", sample("dome.jpg")).value() == AddStatus::added);
        CHECK(b.add("coffee", sample("coffee.jpg")).value() == AddStatus::added);
        // Same key, same bytes, from the other writer: unchanged, not a second row.
        CHECK(b.add("dome", sample("dome.jpg")).value() == AddStatus::unchanged);
        a.save_snapshot();
    }
    const Store a(dir / "a", on(url, OpenMode::write));
    CHECK(a.stats().caught_up == 1);  // b's row, after a's snapshot
    CHECK(a.search(sample("coffee.jpg")).value().front().key == "coffee");
    CHECK(a.search(sample("dome.jpg")).value().front().key == "dome");
}

TEST_CASE("a store refuses a catalog address that is not PostgreSQL, and a missing shared catalog outside create mode", "[store][catalog][bad_input]") {
    test::TempDir dir;
    try {
        Store s(dir / "x", on("mysql://somewhere/db"));
        FAIL("opened");
    } catch (const StoreError& e) {
        CHECK(std::string(e.what()) ==
              "catalog address mysql://somewhere/db is not a postgresql:// URI (the default catalog is catalog.sqlite in the index directory)");
    }
    const std::string url = test::PostgresServer::shared().fresh_database();
    CHECK_THROWS_WITH(Store(dir / "y", on(url, OpenMode::write)), Catch::StartsWith("no neardup catalog in PostgreSQL database"));
    CHECK_THROWS_WITH(Store(dir / "y", on(url, OpenMode::read_only)), Catch::StartsWith("no neardup catalog in PostgreSQL database"));
}
