// The index directory under stress: a second writer, read-only opens, a missing or damaged catalog, a full
// disk while a snapshot is written, and `check`.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <sys/resource.h>

#include "neardup/store/store.hpp"
#include "support/store_error.hpp"
#include "support/sample_photos.hpp"
#include "support/temp_dir.hpp"

using namespace neardup;
using namespace neardup::store;

namespace {

StoreOptions mode(OpenMode m) {
    StoreOptions o;
    o.mode = m;
    return o;
}

void add_photo(Store& store, const std::string& name) {
    REQUIRE(store.add(test::sample_photo(name).stem().string(), test::read_bytes(test::sample_photo(name))).ok());
}

// The directory's files, but SQLite's own -wal and -shm files (which a WAL reader shares and may create).
std::vector<std::string> names_in(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    for (const auto& f : std::filesystem::directory_iterator(dir))
        if (const auto name = f.path().filename().string(); !name.ends_with("-wal") && !name.ends_with("-shm")) out.push_back(name);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("a second writer on one directory is refused at once, naming the holder, readers still open", "[store][lock]") {
    test::TempDir dir;
    auto first = std::make_unique<Store>(dir.path());
    add_photo(*first, "coffee.jpg");
    const std::string refused = neardup::test::store_error_of([&] { Store second(dir.path(), mode(OpenMode::write)); });
    CHECK(refused.find("is locked for writing by pid " + std::to_string(::getpid())) != std::string::npos);
    CHECK(refused.find("One process writes to an index directory at a time") != std::string::npos);
    CHECK_FALSE(neardup::test::store_error_of([&] { Store second(dir.path(), mode(OpenMode::create)); }).empty());
    // A read-only open takes no lock and sees the writer's committed rows.
    {
        const Store reader(dir.path(), mode(OpenMode::read_only));
        CHECK(reader.read_only());
        CHECK(reader.stats().active == 1);
        CHECK(reader.search(test::read_bytes(test::sample_photo("coffee.jpg"))).value().at(0).key == "coffee");
    }
    // Closing the writer releases the lock.
    first.reset();
    Store second(dir.path(), mode(OpenMode::write));
    add_photo(second, "dome.jpg");
    CHECK(second.stats().active == 2);
}

TEST_CASE("the lost-rows race of two writers cannot happen: the second one never opens", "[store][lock]") {
    // Before the lock: B adds a row, A adds and snapshots; A's snapshot covered B's id without holding it,
    // so B's row was never searchable again. Now B cannot open while A is open.
    test::TempDir dir;
    Store a(dir.path());
    add_photo(a, "coffee.jpg");
    CHECK_THROWS_AS(Store(dir.path()), StoreError);
    add_photo(a, "dome.jpg");
    a.save_snapshot();
    CHECK(a.stats().pdq_entries == 2u);
}

TEST_CASE("a read-only store writes nothing and refuses writes with a StoreError", "[store][lock]") {
    test::TempDir dir;
    {
        Store store(dir.path());
        add_photo(store, "coffee.jpg");
        store.save_snapshot();
    }
    const auto before = names_in(dir.path());
    Store reader(dir.path(), mode(OpenMode::read_only));
    CHECK(reader.stats().loaded_from_snapshot);
    CHECK(neardup::test::store_error_of([&] { (void)reader.add("dome", test::read_bytes(test::sample_photo("dome.jpg"))); }) ==
          "cannot add references: the index " + dir.path().string() + " is opened read-only");
    CHECK(neardup::test::store_error_of([&] { reader.remove("coffee"); }) == "cannot delete references: the index " + dir.path().string() + " is opened read-only");
    CHECK(neardup::test::store_error_of([&] { reader.save_snapshot(); }) == "cannot save a snapshot: the index " + dir.path().string() + " is opened read-only");
    CHECK(neardup::test::store_error_of([&] { reader.compact(); }) == "cannot compact: the index " + dir.path().string() + " is opened read-only");
    CHECK(reader.stats().active == 1);
    CHECK(names_in(dir.path()) == before);
}

TEST_CASE("only create mode makes an index, index files without a catalog are an error, never an empty index", "[store][bad_input]") {
    test::TempDir dir;
    for (const OpenMode m : {OpenMode::write, OpenMode::read_only}) {
        CHECK(neardup::test::store_error_of([&] { Store s(dir / "none", mode(m)); }).starts_with("no index at " + (dir / "none").string()));
        CHECK_FALSE(std::filesystem::exists(dir / "none"));
    }
    {
        Store store(dir / "db");
        add_photo(store, "coffee.jpg");
        store.save_snapshot();
    }
    std::filesystem::remove(dir / "db" / "catalog.sqlite");
    for (const char* suffix : {"-wal", "-shm"}) std::filesystem::remove(dir / "db" / (std::string("catalog.sqlite") + suffix));
    for (const OpenMode m : {OpenMode::create, OpenMode::write, OpenMode::read_only}) {
        const std::string why = neardup::test::store_error_of([&] { Store s(dir / "db", mode(m)); });
        INFO(why);
        CHECK_FALSE(why.empty());
        CHECK_FALSE(std::filesystem::exists(dir / "db" / "catalog.sqlite"));
    }
    CHECK(neardup::test::store_error_of([&] { Store s(dir / "db"); }).find("holds index files but no catalog.sqlite") != std::string::npos);
}

TEST_CASE("a catalog with a damaged page fails to open with a clear error", "[store][bad_input]") {
    test::TempDir dir;
    {
        Store store(dir.path());
        for (const char* name : {"coffee.jpg", "dome.jpg", "pot-holder.jpg", "sample1_1280.jpg"}) add_photo(store, name);
    }
    // Garble the second page (a b-tree page of the schema's tables) as a bad sector would.
    const auto file = dir / "catalog.sqlite";
    REQUIRE(std::filesystem::file_size(file) > 8192);
    {
        std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
        io.seekp(4096);
        const std::string garbage(4096, '\xa5');
        io.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
    const std::string why = neardup::test::store_error_of([&] { Store s(dir.path()); });
    INFO(why);
    CHECK(why.find("catalog") != std::string::npos);
    CHECK((why.find("damaged") != std::string::npos || why.find("malformed") != std::string::npos));
}

TEST_CASE("a full disk during a snapshot leaves the previous snapshot whole and no partial files", "[store][durability]") {
    test::TempDir dir;
    std::vector<SearchHit> before;
    const auto query = test::read_bytes(test::sample_photo("coffee.jpg"));
    {
        Store store(dir.path());
        add_photo(store, "coffee.jpg");
        store.save_snapshot();
        before = store.search(query).value();
        add_photo(store, "dome.jpg");
        add_photo(store, "pot-holder.jpg");
        const auto files_before = names_in(dir.path());
        // RLIMIT_FSIZE makes write(2) past the limit fail with EFBIG, as ENOSPC would on a full disk. SIGXFSZ
        // is ignored for the test; a server never sets the limit.
        const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit old{};
        REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
        rlimit small = old;
        small.rlim_cur = 4096;
        REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
        const std::string why = neardup::test::store_error_of([&] { store.save_snapshot(); });
        REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
        std::signal(SIGXFSZ, old_handler);
        INFO(why);
        CHECK(why.find("cannot write " + dir.path().string()) == 0);
        CHECK(why.find("File too large") != std::string::npos);
        CHECK(names_in(dir.path()) == files_before);  // no .tmp left, no new segment under its final name
        // Once there is room again, the snapshot goes through.
        store.save_snapshot();
    }
    Store store(dir.path());
    CHECK(store.stats().loaded_from_snapshot);
    CHECK(store.stats().caught_up == 0);
    CHECK(store.stats().pdq_entries == 3u);
    CHECK(store.search(query).value().at(0).key == before.at(0).key);
}

TEST_CASE("check: a healthy index, then damaged files and indexes that disagree with the catalog", "[store][check]") {
    test::TempDir dir;
    {
        Store store(dir.path());
        for (const char* name : {"coffee.jpg", "dome.jpg", "pot-holder.jpg"}) add_photo(store, name);
        REQUIRE(store.remove("dome"));
        store.save_snapshot();
        const auto report = store.check();
        CHECK(report.healthy());
        CHECK(report.rows_checked == 3);
    }
    for (const auto& f : std::filesystem::directory_iterator(dir.path()))
        if (f.path().string().ends_with(".pdq.faiss")) {
            std::ofstream out(f.path(), std::ios::app | std::ios::binary);
            out << "trailing bytes";
        }
    const Store store(dir.path(), mode(OpenMode::read_only));
    CHECK(store.stats().segments_rebuilt == 1);
    const auto report = store.check();
    CHECK_FALSE(report.healthy());
    REQUIRE(report.snapshot.size() == 1u);
    CHECK(report.snapshot[0].ends_with(".pdq.faiss does not match its checksum"));
    CHECK(report.catalog.empty());
    CHECK(report.indexes.empty());  // the rebuilt segment agrees with the catalog
}

TEST_CASE("a committed format-1 snapshot with its FAISS files keeps loading", "[store][format]") {
    // tests/fixtures/snapshot-format1: coffee.jpg and dome.jpg (label brand=acme) in a catalog of schema 1
    // and a format-1 snapshot (one pair of index files for every row). Copied, since opening writes a LOCK.
    test::TempDir dir;
    std::filesystem::copy(std::filesystem::path(NEARDUP_FIXTURES_DIR) / "snapshot-format1", dir / "db");
    Store store(dir / "db", mode(OpenMode::write));
    const auto s = store.stats();
    CHECK(s.loaded_from_snapshot);
    CHECK(s.caught_up == 0);
    CHECK(s.segments_rebuilt == 0);
    CHECK(s.active == 2);
    CHECK(s.pdq_entries == 2u);
    CHECK(s.descriptor_entries == 256u);
    const auto hits = store.search(test::read_bytes(test::sample_photo("dome.jpg"))).value();
    REQUIRE_FALSE(hits.empty());
    CHECK(hits[0].key == "dome");
    CHECK(hits[0].match);
    CHECK(hits[0].labels == Labels{{"brand", "acme"}});
    CHECK(store.check().healthy());
    // The next snapshot is written in the current format, and loads.
    store.save_snapshot();
    CHECK(std::ifstream(dir / "db" / "snapshot.json").good());
}
