// The `neardup` executable end to end: exit statuses, JSON output, and resuming after kill -9.
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <algorithm>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <opencv2/imgcodecs.hpp>
#include <sqlite3.h>

#include "neardup/engine/decode.hpp"
#include "neardup/store/store.hpp"
#include "support/edits.hpp"
#include "support/postgres_server.hpp"
#include "support/sample_photos.hpp"
#include "support/temp_dir.hpp"

extern char** environ;

namespace {

struct Run {
    int status = -1;
    std::string out;
};

// Runs a shell command line; stdout captured.
Run run_shell(const std::string& command) {
    Run r;
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
    const int status = pclose(pipe);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string quoted(const std::string& a) { return "'" + a + "'"; }

// Runs the neardup binary with arguments; stdout captured, and stderr too when `with_stderr`.
Run run(const std::vector<std::string>& args, bool with_stderr = false) {
    std::string command = NEARDUP_BINARY;
    for (const auto& a : args) command += " " + quoted(a);
    return run_shell(command + (with_stderr ? " 2>&1" : " 2>/dev/null"));
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
    std::vector<nlohmann::json> out;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto end = text.find('\n', start);
        out.push_back(nlohmann::json::parse(text.substr(start, end - start)));
        start = end == std::string::npos ? text.size() : end + 1;
    }
    return out;
}

}  // namespace

TEST_CASE("usage errors exit 2 with nothing done, a missing index is a failure (1), not a usage error", "[cli][bad_input]") {
    neardup::test::TempDir dir;
    CHECK(run({}).status == 2);
    CHECK(run({"index"}).status == 2);                                   // --db missing
    CHECK(run({"index", "--db", (dir / "db").string()}).status == 2);    // neither paths nor manifest
    CHECK(run({"index", "--db", (dir / "db").string(), "--label", "novalue", dir.path().string()}).status == 2);
    CHECK(run({"query", "--db", (dir / "db").string(), "--top", "-1", "x.jpg"}).status == 2);
    CHECK(run({"query", "--db", (dir / "db").string(), "--threshold", "2", "x.jpg"}).status == 2);
    CHECK(run({"frobnicate"}).status == 2);
    // Only `index` creates an index: the read and write commands on a missing one fail and create nothing.
    for (const char* command : {"query", "stats", "check", "delete", "compact"}) {
        INFO(command);
        std::vector<std::string> args = {command, "--db", (dir / "nothing").string()};
        if (std::string(command) == "query") args.push_back(dir.path().string());
        if (std::string(command) == "delete") args.push_back("key");
        CHECK(run(args).status == 1);
    }
    CHECK_FALSE(std::filesystem::exists(dir / "nothing"));
}

TEST_CASE("index then query: JSON lines per query, failures in place, exit 3 when some input failed", "[cli]") {
    neardup::test::TempDir dir;
    const std::string db = (dir / "db").string();
    const auto photos = std::filesystem::path(neardup::test::sample_photo("coffee.jpg")).parent_path();
    CHECK(run({"index", "--db", db, "--label", "case=c9", photos.string()}).status == 0);
    // An edited copy, a broken file and a missing one.
    const auto coffee = neardup::decode_image(neardup::test::read_bytes(photos / "coffee.jpg")).value().bgr;
    cv::imwrite((dir / "copy.jpg").string(), neardup::test::price_overlay(neardup::test::crop_center(coffee, 0.7)));
    { std::ofstream(dir / "broken.png") << "\x89PNG\r\n\x1A\n"; }
    const auto r = run({"query", "--db", db, "--json", "--top", "3", (dir / "copy.jpg").string(), (dir / "broken.png").string(),
                        (dir / "gone.jpg").string()});
    CHECK(r.status == 3);
    const auto lines = json_lines(r.out);
    REQUIRE(lines.size() == 3u);
    // Missing files are reported first (they are known before any work), then the queries in order.
    CHECK(lines[0]["query"] == "gone");
    CHECK(lines[0]["error"]["code"] == "io_error");
    CHECK(lines[1]["query"] == "copy");
    CHECK(lines[1]["path"] == (dir / "copy.jpg").string());
    REQUIRE(lines[1]["matches"].size() >= 1u);
    CHECK(lines[1]["matches"].size() <= 3u);
    CHECK(lines[1]["matches"][0]["key"] == "coffee");
    CHECK(lines[1]["matches"][0]["match"] == true);
    CHECK(lines[1]["matches"][0]["labels"]["case"] == "c9");
    const double score = lines[1]["matches"][0]["score"];
    CHECK(score > 0.5);
    CHECK(score <= 1.0);
    CHECK(lines[2]["query"] == "broken");
    CHECK(lines[2]["error"]["code"] == "truncated");
    // --threshold 1 turns every decision off; delete removes the key from results.
    const auto strict = json_lines(run({"query", "--db", db, "--json", "--threshold", "1", (dir / "copy.jpg").string()}).out);
    CHECK(strict[0]["matches"][0]["match"] == false);
    CHECK(run({"delete", "--db", db, "coffee"}).status == 0);
    CHECK(run({"delete", "--db", db, "coffee"}).status == 3);
    const auto after = json_lines(run({"query", "--db", db, "--json", (dir / "copy.jpg").string()}).out);
    for (const auto& m : after[0]["matches"]) CHECK(m["key"] != "coffee");
    CHECK(run({"compact", "--db", db}).status == 0);
}

TEST_CASE("a bulk index killed with SIGKILL finishes on re-run with nothing lost or duplicated", "[cli][durability]") {
    neardup::test::TempDir dir;
    // 26 sample photos copied under 4 names each: enough work for the kill to land mid-run.
    std::filesystem::create_directories(dir / "in");
    std::size_t total = 0;
    for (const auto& p : neardup::test::sample_photos())
        for (int c = 0; c < 4; ++c) {
            std::filesystem::copy_file(p, dir / "in" / (p.stem().string() + "-" + std::to_string(total) + ".jpg"));
            ++total;
        }
    const std::string db = (dir / "db").string();
    const std::string in = (dir / "in").string();
    for (int delay_ms : {150, 400, 700}) {
        pid_t pid;
        std::vector<std::string> args = {NEARDUP_BINARY, "index", "--db", db, in};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
        REQUIRE(posix_spawn(&pid, NEARDUP_BINARY, &actions, nullptr, argv.data(), environ) == 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        posix_spawn_file_actions_destroy(&actions);
    }
    const auto finish = run({"index", "--db", db, in});
    CHECK(finish.status == 0);
    const neardup::store::Store store(db);
    const auto s = store.stats();
    CHECK(s.active == static_cast<std::int64_t>(total));
    CHECK(s.inactive == 0);
    CHECK(s.pdq_entries == total);  // FAISS agrees with the catalog: no row twice, none missing
    CHECK(store.search(neardup::test::read_bytes(neardup::test::sample_photo("dome.jpg"))).value().at(0).key.rfind("dome-", 0) == 0);
}

TEST_CASE("manifest indexing with labels, the --errors file, review pictures and stats", "[cli]") {
    neardup::test::TempDir dir;
    const std::string db = (dir / "db").string();
    const auto coffee = neardup::test::sample_photo("coffee.jpg");
    const auto dome = neardup::test::sample_photo("dome.jpg");
    {
        std::ofstream m(dir / "m.csv");
        m << "key,path,brand\n"
          << "c1," << coffee.string() << ",acme\n"
          << "d1," << dome.string() << ",\n"
          << "gone,missing.jpg,acme\n";
    }
    const std::string errors = (dir / "errors.jsonl").string();
    CHECK(run({"index", "--db", db, "--manifest", (dir / "m.csv").string(), "--errors", errors}).status == 3);
    std::ifstream in(errors);
    std::string line;
    REQUIRE(std::getline(in, line));
    const auto e = nlohmann::json::parse(line);
    CHECK(e["key"] == "gone");
    CHECK(e["error"]["code"] == "io_error");
    CHECK_FALSE(std::getline(in, line));  // only the one failure
    const auto stats = nlohmann::json::parse(run({"stats", "--db", db}).out);
    CHECK(stats["active"] == 2);
    // The brand label filters, and --draw writes the side-by-side picture of the best match.
    const auto crop = neardup::test::crop_center(neardup::decode_image(neardup::test::read_bytes(coffee)).value().bgr, 0.8);
    cv::imwrite((dir / "q.jpg").string(), crop);
    const auto r = json_lines(run({"query", "--db", db, "--json", "--label", "brand=acme", "--draw", (dir / "review").string(),
                                   (dir / "q.jpg").string()}).out);
    REQUIRE(r.size() == 1u);
    REQUIRE(r[0]["matches"].size() == 1u);  // d1 has no brand label
    CHECK(r[0]["matches"][0]["key"] == "c1");
    CHECK(r[0]["matches"][0]["labels"]["brand"] == "acme");
    const auto picture = cv::imread((dir / "review" / "q__c1.jpg").string());
    CHECK(picture.rows > 400);
    CHECK(picture.cols > picture.rows);  // side by side
}

TEST_CASE("a second writing process is refused at once, naming the holder, queries still run", "[cli][lock]") {
    neardup::test::TempDir dir;
    const std::string db = (dir / "db").string();
    CHECK(run({"index", "--db", db, neardup::test::sample_photo("coffee.jpg").string()}).status == 0);
    {
        neardup::store::Store holder(db);  // this process writes now
        const auto refused = run({"index", "--db", db, neardup::test::sample_photo("dome.jpg").string()}, true);
        INFO(refused.out);
        CHECK(refused.status == 1);
        CHECK(refused.out.find("is locked for writing by pid " + std::to_string(::getpid())) != std::string::npos);
        CHECK(run({"delete", "--db", db, "coffee"}).status == 1);
        CHECK(run({"compact", "--db", db}).status == 1);
        const auto q = json_lines(run({"query", "--db", db, "--json", neardup::test::sample_photo("coffee.jpg").string()}).out);
        REQUIRE(q.size() == 1u);
        CHECK(q[0]["matches"][0]["key"] == "coffee");
        CHECK(run({"stats", "--db", db}).status == 0);
        CHECK(holder.stats().active == 1);  // the refused index added nothing
    }
    CHECK(run({"index", "--db", db, neardup::test::sample_photo("dome.jpg").string()}).status == 0);
}

TEST_CASE("a file name that is not UTF-8 is refused as a key, query output stays valid JSON", "[cli][bad_input]") {
    neardup::test::TempDir dir;
    std::filesystem::create_directories(dir / "in");
    std::filesystem::copy_file(neardup::test::sample_photo("coffee.jpg"), dir / "in" / "caf\xe9.jpg");  // Latin-1
    std::filesystem::copy_file(neardup::test::sample_photo("dome.jpg"), dir / "in" / "dome.jpg");
    const std::string db = (dir / "db").string();
    const std::string errors = (dir / "errors.jsonl").string();
    CHECK(run({"index", "--db", db, "--errors", errors, (dir / "in").string()}).status == 3);
    std::ifstream in(errors);
    std::string line;
    REQUIRE(std::getline(in, line));
    const auto e = nlohmann::json::parse(line);  // valid JSON although the name is not UTF-8
    CHECK(e["error"]["code"] == "invalid_key");
    CHECK(e["error"]["message"] == "the key is not valid UTF-8");
    CHECK(e["key"] == "caf\xef\xbf\xbd");  // the byte shown as U+FFFD
    CHECK(nlohmann::json::parse(run({"stats", "--db", db}).out)["active"] == 1);
    // Querying the same files: every line parses, the Latin-1 one names its query with U+FFFD.
    const auto r = run({"query", "--db", db, "--json", (dir / "in").string()});
    CHECK(r.status == 0);
    const auto lines = json_lines(r.out);
    REQUIRE(lines.size() == 2u);
    std::set<std::string> queries;
    for (const auto& l : lines) queries.insert(l["query"].get<std::string>());
    CHECK(queries == std::set<std::string>{"caf\xef\xbf\xbd", "dome"});
}

TEST_CASE("check: exit 0 on a sound index, 1 with the problem and what to do on a damaged one", "[cli][check]") {
    neardup::test::TempDir dir;
    const std::string db = (dir / "db").string();
    const auto photos = std::filesystem::path(neardup::test::sample_photo("coffee.jpg")).parent_path();
    CHECK(run({"index", "--db", db, photos.string()}).status == 0);
    const auto ok = run({"check", "--db", db});
    INFO(ok.out);
    CHECK(ok.status == 0);
    CHECK(ok.out.find("catalog: ok") != std::string::npos);
    CHECK(ok.out.find("indexes: ok") != std::string::npos);
    for (const auto& f : std::filesystem::directory_iterator(db))
        if (f.path().string().ends_with(".desc.faiss")) std::filesystem::resize_file(f.path(), std::filesystem::file_size(f.path()) - 1);
    const auto bad = run({"check", "--db", db});
    INFO(bad.out);
    CHECK(bad.status == 1);
    CHECK(bad.out.find("snapshot: 1 problem(s)") != std::string::npos);
    CHECK(bad.out.find("what to do:") != std::string::npos);
    const auto report = nlohmann::json::parse(run({"check", "--db", db, "--json"}).out);
    CHECK(report["healthy"] == false);
    CHECK(report["segments_rebuilt_on_open"] == 1);
    CHECK(report["indexes"].empty());
    // compact rewrites the indexes; the index is sound again.
    CHECK(run({"compact", "--db", db}).status == 0);
    CHECK(run({"check", "--db", db}).status == 0);
}

TEST_CASE("an index on read-only storage answers queries, writes fail with a clear error", "[cli][lock]") {
    neardup::test::TempDir dir;
    const std::string db = (dir / "db").string(), ro = (dir / "ro").string();
    CHECK(run({"index", "--db", db, neardup::test::sample_photo("coffee.jpg").string()}).status == 0);
    std::filesystem::create_directories(ro);
    // A read-only bind mount in a private mount namespace (root in a container, as CI runs).
    const std::string mount = "unshare -m sh -c " +
                              quoted("mount --bind " + db + " " + ro + " && mount -o remount,bind,ro " + ro + " && \"$0\" \"$@\"");
    if (run_shell(mount + " true 2>/dev/null").status != 0) {
        WARN("no read-only bind mount here (needs unshare -m as root): skipped");
        return;
    }
    const auto q = run_shell(mount + " " + quoted(NEARDUP_BINARY) + " query --json --db " + quoted(ro) + " " +
                             quoted(neardup::test::sample_photo("coffee.jpg").string()) + " 2>/dev/null");
    CHECK(q.status == 0);
    const auto lines = json_lines(q.out);
    REQUIRE(lines.size() == 1u);
    CHECK(lines[0]["matches"][0]["key"] == "coffee");
    const auto w = run_shell(mount + " " + quoted(NEARDUP_BINARY) + " delete --db " + quoted(ro) + " coffee 2>&1");
    INFO(w.out);
    CHECK(w.status == 1);
    CHECK(w.out.find("Read-only file system") != std::string::npos);
}

TEST_CASE("hash lists: hash files, export from one index, import into another, the same keys found by hash", "[cli][hash_list]") {
    neardup::test::TempDir dir;
    const std::string a = (dir / "a").string(), b = (dir / "b").string();
    std::filesystem::create_directories(dir / "in");
    for (const char* name : {"coffee.jpg", "dome.jpg", "pot-holder.jpg"})
        std::filesystem::copy_file(neardup::test::sample_photo(name), dir / "in" / name);
    const auto partner_photo = std::filesystem::path(NEARDUP_FIXTURES_DIR) / "threatexchange" / "q0746.jpg";
    std::filesystem::copy_file(partner_photo, dir / "in" / "q0746.jpg");
    REQUIRE(run({"index", "--db", a, "--label", "brand=acme, inc.", (dir / "in").string()}).status == 0);

    // `hash` prints what ThreatExchange's hasher prints for its own test image.
    const auto hashed = run({"hash", "--convention", "threatexchange", partner_photo.string()});
    CHECK(hashed.status == 0);
    CHECK(hashed.out == "1049d96239e24d4dca2c55512b8bdb77425f4dbcf575a0a95555aaab5554aaaa,100," + partner_photo.string() + "\n");

    // Export under a convention recomputes from the source files: the same hashes `hash` prints.
    const auto exported = run({"export", "--db", a, "--format", "pdq", "--convention", "threatexchange"});
    REQUIRE(exported.status == 0);
    std::set<std::string> from_files;
    std::istringstream lines(run({"hash", "--convention", "threatexchange", (dir / "in").string()}).out);
    for (std::string line; std::getline(lines, line);) from_files.insert(line.substr(0, 64));
    std::set<std::string> listed;
    std::istringstream exported_lines(exported.out);
    for (std::string line; std::getline(exported_lines, line);) listed.insert(line);
    CHECK(listed == from_files);
    CHECK(listed.contains("1049d96239e24d4dca2c55512b8bdb77425f4dbcf575a0a95555aaab5554aaaa"));

    // CSV round trip: keys, labels (quoted: the value holds a comma) and the catalog's hashes.
    REQUIRE(run({"export", "--db", a, "--format", "csv", "--output", (dir / "list.csv").string()}).status == 0);
    REQUIRE(run({"import", "--db", b, "--format", "csv", "--label", "partner=p1", (dir / "list.csv").string()}).status == 0);
    CHECK(run({"import", "--db", b, "--format", "csv", (dir / "list.csv").string()}).status == 0);  // again: unchanged
    {
        const neardup::store::Store source(a, [] { neardup::store::StoreOptions o; o.mode = neardup::store::OpenMode::read_only; return o; }());
        const neardup::store::Store imported(b, [] { neardup::store::StoreOptions o; o.mode = neardup::store::OpenMode::read_only; return o; }());
        CHECK(imported.stats().active == 4);
        for (const char* key : {"coffee", "dome", "pot-holder", "q0746"}) {
            INFO(key);
            const auto signature = source.signature(key);
            REQUIRE(signature);
            const auto in_b = imported.search_pdq(signature->pdq.hash);
            REQUIRE_FALSE(in_b.empty());
            CHECK(in_b[0].key == key);
            CHECK(in_b[0].distance == 0);
            CHECK(in_b[0].hash_only);
            CHECK(in_b[0].quality == signature->pdq.quality);
            CHECK(in_b[0].labels == neardup::store::Labels{{"brand", "acme, inc."}, {"partner", "p1"}});
            CHECK(source.search_pdq(signature->pdq.hash).at(0).key == key);
        }
    }
    // A plain list with a bad line: the good lines are imported, the run exits 3; --label filters an export.
    {
        std::ofstream(dir / "list.txt") << "0007001f003f003f007f00ff00ff00ff01ff01ff01ff03ff03ff03ff03ff03ff\nnot-a-hash\n";
    }
    const auto partial = run({"import", "--db", b, "--format", "pdq", (dir / "list.txt").string()}, true);
    CHECK(partial.status == 3);
    CHECK(partial.out.find("list.txt:2: 'not-a-hash' is not a PDQ hash (64 hex digits)") != std::string::npos);
    const auto plain = run({"export", "--db", b, "--format", "csv", "--label", "partner=p1"});
    CHECK(std::count(plain.out.begin(), plain.out.end(), '\n') == 5);  // the header and the 4 CSV rows, not the plain one
    CHECK(run({"export", "--db", b, "--format", "pdq"}).out.find("0007001f003f003f007f00ff00ff00ff01ff01ff01ff03ff03ff03ff03ff03ff\n") !=
          std::string::npos);
    // Hash-only references have no file to recompute from: exported as imported.
    CHECK(run({"export", "--db", b, "--convention", "neardup"}).status == 0);
    CHECK(run({"export", "--db", (dir / "none").string()}).status == 1);
    CHECK(run({"export", "--db", a, "--format", "xml"}).status == 2);
    CHECK(run({"import", "--db", b, (dir / "missing.txt").string()}).status == 1);
}

TEST_CASE("thumbnails: an index made before them gets them from its source files", "[cli][thumbnails]") {
    neardup::test::TempDir dir;
    // tests/fixtures/snapshot-format1: coffee and dome from the Debian sample photos, a catalog without thumbnails.
    const auto db = dir / "db";
    std::filesystem::copy(std::filesystem::path(NEARDUP_FIXTURES_DIR) / "snapshot-format1", db);
    neardup::store::StoreOptions read_only;
    read_only.mode = neardup::store::OpenMode::read_only;
    {
        const neardup::store::Store before(db, read_only);
        CHECK_FALSE(before.thumbnail("coffee"));
    }
    const auto r = run({"thumbnails", "--db", db.string()}, true);
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(r.out.find("2 thumbnails made") != std::string::npos);
    {
        const neardup::store::Store after(db, read_only);
        for (const char* key : {"coffee", "dome"}) {
            const auto jpeg = after.thumbnail(key);
            REQUIRE(jpeg);
            CHECK(std::max(neardup::decode_image(*jpeg).value().width, neardup::decode_image(*jpeg).value().height) == 256u);
        }
    }
    // Again: nothing left to do. A reference whose source is gone, or added without one, is reported (exit 3).
    CHECK(run({"thumbnails", "--db", db.string()}).status == 0);
    std::filesystem::create_directories(dir / "in");
    std::filesystem::copy_file(neardup::test::sample_photo("pot-holder.jpg"), dir / "in" / "pot.jpg");
    const auto db2 = (dir / "db2").string();
    REQUIRE(run({"index", "--db", db2, (dir / "in").string()}).status == 0);
    {
        neardup::store::StoreOptions writable;
        writable.mode = neardup::store::OpenMode::write;
        neardup::store::Store s(db2, writable);
        const auto hits = s.missing_thumbnails(0, 10);
        CHECK(hits.empty());  // indexed with one already
    }
    CHECK(run({"thumbnails", "--db", (dir / "missing").string()}).status == 1);

    // Sources that moved or changed since indexing, and a row added without one: each reported, exit 3.
    const auto db3 = dir / "db3";
    std::filesystem::copy(std::filesystem::path(NEARDUP_FIXTURES_DIR) / "snapshot-format1", db3);
    {
        sqlite3* c = nullptr;
        REQUIRE(sqlite3_open((db3 / "catalog.sqlite").string().c_str(), &c) == SQLITE_OK);
        const std::string sql = "UPDATE images SET source = '" + (dir / "gone.jpg").string() + "' WHERE key = 'dome';"
                                "UPDATE images SET source = '" + (dir / "in" / "pot.jpg").string() + "' WHERE key = 'coffee';";
        REQUIRE(sqlite3_exec(c, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(c);
    }
    const auto bad = run({"thumbnails", "--db", db3.string()}, true);
    INFO(bad.out);
    CHECK(bad.status == 3);
    CHECK(bad.out.find("coffee: source file " + (dir / "in" / "pot.jpg").string() + " changed since it was indexed") != std::string::npos);
    CHECK(bad.out.find("dome: ") != std::string::npos);
    CHECK(bad.out.find("0 thumbnails made; 0 references without a source file to make one from (added over HTTP), 2 failed") != std::string::npos);
    {
        sqlite3* c = nullptr;
        REQUIRE(sqlite3_open((db3 / "catalog.sqlite").string().c_str(), &c) == SQLITE_OK);
        REQUIRE(sqlite3_exec(c, "UPDATE images SET source = ''", nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(c);
    }
    const auto sourceless = run({"thumbnails", "--db", db3.string()}, true);
    CHECK(sourceless.status == 3);
    CHECK(sourceless.out.find("0 thumbnails made; 2 references without a source file") != std::string::npos);
}

TEST_CASE("a shared catalog: two index runs in their own directories write one PostgreSQL catalog, a third directory queries it",
          "[cli][catalog]") {
    neardup::test::TempDir dir;
    const std::string url = neardup::test::PostgresServer::shared().fresh_database();
    const auto photos = std::filesystem::path(neardup::test::sample_photo("coffee.jpg")).parent_path();
    CHECK(run({"--catalog", url, "index", "--db", (dir / "one").string(), (photos / "coffee.jpg").string()}).status == 0);
    // The address from the environment, as a service or a Kubernetes Secret would give it.
    CHECK(run_shell("NEARDUP_CATALOG=" + quoted(url) + " " + NEARDUP_BINARY + " index --db " + quoted((dir / "two").string()) + " " +
                    quoted((photos / "dome.jpg").string()) + " 2>/dev/null").status == 0);
    // Neither directory holds a catalog of its own.
    CHECK_FALSE(std::filesystem::exists(dir / "one" / "catalog.sqlite"));
    CHECK_FALSE(std::filesystem::exists(dir / "two" / "catalog.sqlite"));
    const auto r = run({"--catalog", url, "query", "--db", (dir / "three").string(), "--json", (photos / "coffee.jpg").string(),
                        (photos / "dome.jpg").string()});
    CHECK(r.status == 0);
    const auto lines = json_lines(r.out);
    REQUIRE(lines.size() == 2u);
    CHECK(lines[0]["matches"][0]["key"] == "coffee");
    CHECK(lines[1]["matches"][0]["key"] == "dome");
    const auto stats = run({"--catalog", url, "stats", "--db", (dir / "one").string()});
    CHECK(nlohmann::json::parse(stats.out)["active"] == 2);
    // A wrong address fails with the reason and without the password.
    const auto bad = run({"--catalog", "postgresql://neardup:hunter2@/nowhere?host=/nonexistent-neardup", "stats", "--db",
                          (dir / "one").string()}, true);
    CHECK(bad.status == 1);
    CHECK(bad.out.find("cannot connect to the catalog, PostgreSQL database nowhere on /nonexistent-neardup:5432") != std::string::npos);
    CHECK(bad.out.find("hunter2") == std::string::npos);
}

TEST_CASE("shards: N index runs of one manifest (k from JOB_COMPLETION_INDEX) index every input once between them", "[cli][catalog][shard]") {
    neardup::test::TempDir dir;
    const std::string url = neardup::test::PostgresServer::shared().fresh_database();
    const auto photos = neardup::test::sample_photos();
    REQUIRE(photos.size() >= 6u);
    const auto manifest = dir / "manifest.csv";
    {
        std::ofstream out(manifest);
        out << "key,path\n";
        for (std::size_t i = 0; i < 6; ++i) out << "k" << i << "," << photos[i].string() << "\n";
    }
    for (int k = 0; k < 3; ++k) {
        const auto r = run_shell("JOB_COMPLETION_INDEX=" + std::to_string(k) + " " + NEARDUP_BINARY + " --catalog " + quoted(url) +
                                 " --shard job/3 index --db " + quoted((dir / ("job" + std::to_string(k))).string()) + " --manifest " +
                                 quoted(manifest.string()) + " 2>&1");
        CHECK(r.status == 0);
        CHECK(r.out.find("shard " + std::to_string(k) + "/3: ") != std::string::npos);
    }
    // The catalog holds the six keys once each, and shard k's directory only its own.
    const auto stats = nlohmann::json::parse(run({"--catalog", url, "stats", "--db", (dir / "all").string()}).out);
    CHECK(stats["active"] == 6);
    CHECK(stats["pdq_entries"] == 6);
    std::size_t held = 0;
    for (int k = 0; k < 3; ++k)
        held += nlohmann::json::parse(run({"--catalog", url, "--shard", std::to_string(k) + "/3", "stats", "--db",
                                           (dir / ("job" + std::to_string(k))).string()}).out)["pdq_entries"].get<std::size_t>();
    CHECK(held == 6);
    const auto bad = run({"--catalog", url, "--shard", "job/3", "stats", "--db", (dir / "all").string()}, true);
    CHECK(bad.status == 2);  // no JOB_COMPLETION_INDEX in this environment
    CHECK(bad.out.find("--shard job/3: expected k/N") != std::string::npos);
}

TEST_CASE("an embedding model (--embedder): the index records it, queries report the similarity, another model or a bad file is refused",
          "[cli][embedding]") {
    neardup::test::TempDir dir;
    const std::string db = (dir / "db").string();
    const auto fixtures = std::filesystem::path(NEARDUP_FIXTURES_DIR) / "embedder";
    const std::string tiny = (fixtures / "tiny-embedder.onnx").string(), other = (fixtures / "other-embedder.onnx").string();
    const auto coffee = neardup::test::sample_photo("coffee.jpg");
    const auto dome = neardup::test::sample_photo("dome.jpg");
    const std::vector<std::string> model = {"--embedder", tiny, "--embedder-input", "16"};
    const auto with = [&](std::vector<std::string> args, const std::vector<std::string>& flags) {
        args.insert(args.begin(), flags.begin(), flags.end());
        return args;
    };
    REQUIRE(run(with({"index", "--db", db, coffee.string(), dome.string()}, model)).status == 0);
    const auto stats = nlohmann::json::parse(run({"stats", "--db", db}).out);
    CHECK(stats["embedding_entries"] == 2);
    CHECK(stats["embedder"].get<std::string>().rfind("onnx-sha256:", 0) == 0);
    const auto found = json_lines(run(with({"query", "--db", db, "--json", coffee.string()}, model)).out);
    REQUIRE(found.size() == 1u);
    CHECK(found[0]["matches"][0]["key"] == "coffee");
    CHECK(found[0]["matches"][0]["embedding_similarity"].get<double>() >= 0.999);
    // The fingerprint of an image carries its embedding too.
    const auto fingerprint = json_lines(run(with({"fingerprint", coffee.string()}, model)).out);
    CHECK(fingerprint[0]["embedding"].size() == 24u);

    const auto refused = run(with({"index", "--db", db, coffee.string()}, {"--embedder", other, "--embedder-input", "16"}), true);
    CHECK(refused.status == 1);
    CHECK(refused.out.find("was built with the embedding model " + stats["embedder"].get<std::string>()) != std::string::npos);
    const auto without = run({"delete", "--db", db, "dome"}, true);
    CHECK(without.status == 1);
    CHECK(without.out.find("open it with that model (--embedder)") != std::string::npos);
    const auto bad = run({"--embedder", coffee.string(), "stats", "--db", db}, true);
    CHECK(bad.status == 2);
    CHECK(bad.out.find("--embedder: embedding model: OpenCV cannot read or run it") != std::string::npos);
    const auto wrong_input = run({"--embedder", tiny, "stats", "--db", db}, true);  // the tiny model runs at 16 px only
    CHECK(wrong_input.status == 2);
    CHECK(wrong_input.out.find("--embedder: embedding model: OpenCV cannot read or run it") != std::string::npos);
}
