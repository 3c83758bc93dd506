// Stores on a PostgreSQL catalog: the index directory holds only what each process derives from the shared
// catalog, and several processes (here: several stores, each with its own directory) read and write it.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

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

// Polls `done` for up to 10 s (the follower takes a notification at once, or polls every follow_interval).
bool eventually(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

bool top_is(const Store& store, const std::vector<std::uint8_t>& bytes, const std::string& key) {
    const auto hits = store.search(bytes).value();
    return !hits.empty() && hits[0].key == key && hits[0].match;
}

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

TEST_CASE("stores in two directories share one PostgreSQL catalog: one opening after the other wrote catches up", "[store][catalog]") {
    const std::string url = test::PostgresServer::shared().fresh_database();
    test::TempDir dir;
    {
        Store a(dir / "a", on(url));
        CHECK(a.add("dome", sample("dome.jpg")).value() == AddStatus::added);
        a.save_snapshot();
    }
    {
        Store b(dir / "b", on(url));  // its own directory: another process on the same catalog
        CHECK(b.add("coffee", sample("coffee.jpg")).value() == AddStatus::added);
        // Same key, same bytes as a's: unchanged, not a second row.
        CHECK(b.add("dome", sample("dome.jpg")).value() == AddStatus::unchanged);
        // Planned before another writer added the key, committed after: refused as a whole, nothing written.
        const auto pot = sample("pot-holder.jpg");
        REQUIRE(b.plan("pot", sha256_of(pot), false) == AddStatus::added);
        auto late = b.prepare("pot", pot, sha256_of(pot), {}, false).value();
        {
            Store c(dir / "c", on(url));
            REQUIRE(c.add("pot", sample("coffee.jpg")).value() == AddStatus::added);
        }
        std::vector<PreparedAdd> batch;
        batch.push_back(late);
        CHECK_THROWS_AS(b.commit(std::move(batch)), KeyConflict);
        CHECK(b.add("pot", sample("coffee.jpg")).value() == AddStatus::unchanged);
        CHECK(b.add("pot", pot).value() == AddStatus::conflict);
        // commit_resolving sorts such a batch out row by row: the others are written, the taken key is judged
        // against what took it.
        const auto sample1 = sample("sample1_960.jpg");
        std::vector<PreparedAdd> mixed;
        mixed.push_back(b.prepare("fresh", sample1, sha256_of(sample1), {}, false).value());
        mixed.push_back(late);  // "pot": taken by c with other bytes
        mixed.push_back(b.prepare("pot", sample("coffee.jpg"), sha256_of(sample("coffee.jpg")), {}, false).value());  // same bytes as c's
        CHECK(b.commit_resolving(std::move(mixed)) ==
              std::vector<AddStatus>{AddStatus::added, AddStatus::conflict, AddStatus::unchanged});
        CHECK(top_is(b, sample1, "fresh"));
        CHECK(b.get("pot")->sha256 == sha256_of(sample("coffee.jpg")));
    }
    const Store a(dir / "a", on(url, OpenMode::write));
    CHECK(a.stats().loaded_from_snapshot);
    // The id range after a's snapshot: b's coffee, c's pot, b's "fresh", and the ids the refused commits drew
    // (a PostgreSQL sequence does not roll back): 1 of the single add, 2 of the mixed batch's first two rows.
    CHECK(a.stats().caught_up == 6);
    CHECK(top_is(a, sample("sample1_960.jpg"), "fresh"));
    CHECK(top_is(a, sample("coffee.jpg"), "coffee"));
    CHECK(top_is(a, sample("dome.jpg"), "dome"));
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

TEST_CASE("a store follows a shared catalog: another process's adds and deletes reach its search without reopening", "[store][catalog]") {
    const std::string url = test::PostgresServer::shared().fresh_database();
    test::TempDir dir;
    Store writer(dir / "writer", on(url));
    const auto dome = sample("dome.jpg"), coffee = sample("coffee.jpg"), pot = sample("pot-holder.jpg");
    REQUIRE(writer.add("dome", dome).value() == AddStatus::added);
    Store replica(dir / "replica", on(url));
    const Store reader(dir / "reader", on(url, OpenMode::read_only));  // a read-only replica follows too
    CHECK(top_is(replica, dome, "dome"));

    REQUIRE(writer.add("coffee", coffee).value() == AddStatus::added);
    CHECK(eventually([&] { return top_is(replica, coffee, "coffee") && top_is(reader, coffee, "coffee"); }));
    // The replica's own add after rows it has not followed yet: both end up searchable, in id order.
    REQUIRE(writer.add("pot", pot).value() == AddStatus::added);
    REQUIRE(replica.add("sample", sample("sample1_1280.jpg")).value() == AddStatus::added);
    CHECK(top_is(replica, pot, "pot"));
    CHECK(eventually([&] { return top_is(writer, sample("sample1_1280.jpg"), "sample"); }));

    REQUIRE(writer.remove("dome"));
    CHECK(eventually([&] { return !top_is(replica, dome, "dome") && !top_is(reader, dome, "dome"); }));
    CHECK(replica.stats().followed >= 3);  // coffee, pot and the deletion of dome

    // A replace elsewhere: the old row leaves search, the new bytes are found under the key.
    REQUIRE(writer.add("coffee", dome, {}, true).value() == AddStatus::replaced);
    CHECK(eventually([&] { return top_is(reader, dome, "coffee") && !top_is(reader, coffee, "coffee"); }));

    // A compaction elsewhere: the replica rebuilds from the catalog, with the purged rows gone from its indexes.
    REQUIRE(writer.remove("pot"));
    const auto before = replica.index_stats().pdq_entries;
    writer.compact();
    CHECK(eventually([&] { return replica.index_stats().pdq_entries < before && replica.index_stats().inactive == 0; }));
    CHECK_FALSE(top_is(replica, pot, "pot"));
    CHECK(replica.check().healthy());
    REQUIRE(writer.add("pot", pot).value() == AddStatus::added);
    CHECK(eventually([&] { return top_is(replica, pot, "pot"); }));

    // What the replica followed survives its restart from its own snapshot.
    replica.save_snapshot();
    const Store reopened(dir / "replica", on(url, OpenMode::read_only));
    CHECK(top_is(reopened, pot, "pot"));
    CHECK(top_is(reopened, dome, "coffee"));
    CHECK(reopened.check().healthy());
}

TEST_CASE("shards of one catalog: each indexes and finds only the keys it owns, follows only them, and refuses another shard's snapshot",
          "[store][catalog][shard]") {
    const std::string url = test::PostgresServer::shared().fresh_database();
    test::TempDir dir;
    const auto options = [&](int k) {
        StoreOptions o = on(url);
        o.shard = Shard{k, 2};
        return o;
    };
    // Keys chosen by the documented hash, so that each shard gets one photo.
    std::string key0, key1;
    for (int i = 0; key0.empty() || key1.empty(); ++i) {
        const std::string key = "photo-" + std::to_string(i);
        (Shard{0, 2}.owns(key) ? key0 : key1) = key;
    }
    const auto dome = sample("dome.jpg"), coffee = sample("coffee.jpg");
    Store shard0(dir / "s0", options(0));
    Store shard1(dir / "s1", options(1));
    // Both adds go through shard 0: the one it does not own reaches the catalog, and shard 1 follows it.
    REQUIRE(shard0.add(key0, dome).value() == AddStatus::added);
    REQUIRE(shard0.add(key1, coffee).value() == AddStatus::added);
    CHECK(top_is(shard0, dome, key0));
    CHECK(eventually([&] { return top_is(shard1, coffee, key1); }));
    for (const auto& hit : shard0.search(coffee).value()) CHECK(hit.key != key1);
    for (const auto& hit : shard1.search(dome).value()) CHECK(hit.key != key0);
    CHECK(shard0.index_stats().pdq_entries == 1);
    CHECK(shard1.index_stats().pdq_entries == 1);
    CHECK(shard0.check().healthy());
    // A deletion in shard 1 is no tombstone in shard 0: shard 0 follows past it (it finds a later add of its
    // own key) and still holds none.
    std::string later0;
    for (int i = 0; later0.empty(); ++i)
        if (const std::string key = "later-" + std::to_string(i); Shard{0, 2}.owns(key)) later0 = key;
    REQUIRE(shard1.remove(key1));
    REQUIRE(shard1.add(later0, sample("pot-holder.jpg")).value() == AddStatus::added);
    CHECK(eventually([&] { return top_is(shard0, sample("pot-holder.jpg"), later0); }));
    CHECK(shard0.index_stats().inactive == 0);
    CHECK(shard1.index_stats().inactive == 1);
    shard0.save_snapshot();
    shard1.save_snapshot();

    // Reopened as the other shard, a directory's snapshot is not used: rebuilt for the shard asked for.
    StoreOptions swapped = options(1);
    swapped.mode = OpenMode::read_only;
    const Store other(dir / "s0", swapped);
    CHECK_FALSE(other.stats().loaded_from_snapshot);
    CHECK(other.stats().snapshot_problem == "snapshot of shard 0/2, this store is shard 1/2");
    CHECK(other.index_stats().pdq_entries == 0);  // shard 1's one row was deleted; shard 0's snapshot held two
    CHECK_FALSE(top_is(other, dome, key0));
    // Shards need the shared catalog.
    StoreOptions local;
    local.shard = Shard{0, 2};
    CHECK_THROWS_WITH(Store(dir / "local", local), Catch::Contains("shards need a shared catalog"));
}

TEST_CASE("a directory's snapshot is of its catalog: opened on another PostgreSQL catalog it is rebuilt, never trusted", "[store][catalog]") {
    const std::string first = test::PostgresServer::shared().fresh_database(), second = test::PostgresServer::shared().fresh_database();
    test::TempDir dir;
    {
        Store a(dir / "a", on(first));
        REQUIRE(a.add("dome", sample("dome.jpg")).value() == AddStatus::added);
        a.save_snapshot();
    }
    {
        Store b(dir / "b", on(second));  // same row count and generation, other rows
        REQUIRE(b.add("coffee", sample("coffee.jpg")).value() == AddStatus::added);
    }
    const Store moved(dir / "a", on(second, OpenMode::read_only));
    CHECK_FALSE(moved.stats().loaded_from_snapshot);
    CHECK(moved.stats().snapshot_problem.starts_with("snapshot of another catalog ("));
    CHECK(top_is(moved, sample("coffee.jpg"), "coffee"));
    // Trusted, the old segments would answer the dome with id 1, which is the coffee in this catalog.
    for (const auto& hit : moved.search(sample("dome.jpg")).value()) CHECK_FALSE(hit.match);
    const Store home(dir / "a", on(first, OpenMode::read_only));
    CHECK(home.stats().loaded_from_snapshot);
}

TEST_CASE("a store without indexes only writes its catalog: a backfill adds rows that a serving store follows", "[store][catalog]") {
    const std::string url = test::PostgresServer::shared().fresh_database();
    test::TempDir dir;
    Store serving(dir / "serving", on(url));
    StoreOptions writer_options = on(url);
    writer_options.load_indexes = false;
    Store backfill(dir / "backfill", writer_options);
    CHECK(backfill.index_stats().pdq_entries == 0);
    REQUIRE(backfill.add("dome", sample("dome.jpg")).value() == AddStatus::added);
    REQUIRE(backfill.add("dome", sample("dome.jpg")).value() == AddStatus::unchanged);  // plan() reads the catalog
    CHECK(backfill.index_stats().pdq_entries == 0);
    CHECK_THROWS_WITH(backfill.search(sample("dome.jpg")), Catch::Contains("opened without indexes"));
    backfill.optimise();
    backfill.save_snapshot();
    CHECK_FALSE(std::filesystem::exists(dir / "backfill" / "snapshot.json"));
    CHECK(eventually([&] { return top_is(serving, sample("dome.jpg"), "dome"); }));
    CHECK(backfill.remove("dome"));
    CHECK(eventually([&] { return !top_is(serving, sample("dome.jpg"), "dome"); }));
}
