#include <catch2/catch.hpp>

#include <fstream>

#include "neardup/indexer/image_files.hpp"
#include "neardup/indexer/index_job.hpp"
#include "support/sample_photos.hpp"
#include "support/temp_dir.hpp"

using namespace neardup;
using namespace neardup::indexer;

TEST_CASE("manifest rows become inputs with labels, malformed manifests name the line", "[indexer][manifest]") {
    test::TempDir dir;
    {
        std::ofstream m(dir / "m.csv");
        m << "key,path,brand,case\nk1,a.jpg,acme,c7\nk2,/abs/b.png,,c8\n";
    }
    const auto inputs = read_manifest(dir / "m.csv");
    REQUIRE(inputs.size() == 2u);
    CHECK(inputs[0].key == "k1");
    CHECK(inputs[0].path == dir / "a.jpg");
    CHECK(inputs[0].labels == store::Labels{{"brand", "acme"}, {"case", "c7"}});
    CHECK(inputs[1].path == "/abs/b.png");
    CHECK(inputs[1].labels == store::Labels{{"case", "c8"}});
    auto error_of = [&](const std::string& text) {
        { std::ofstream(dir / "bad.csv") << text; }
        try {
            read_manifest(dir / "bad.csv");
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error_of("path,key\n") == "manifest line 1: header must start with key,path");
    CHECK(error_of("key,path\nk1,a.jpg,extra\n") == "manifest line 2: 3 fields, header has 2");
    CHECK(error_of("key,path\n,a.jpg\n") == "manifest line 2: empty key or path");
    CHECK(error_of("key,path\n\"k\",a.jpg\n") == "manifest line 2: quoted fields are not supported");
    CHECK(error_of("") == "manifest " + (dir / "bad.csv").string() + " is empty");
}

TEST_CASE("the index job adds, skips unchanged, reports failures and duplicate keys in order", "[indexer][index_job]") {
    test::TempDir dir;
    std::vector<std::filesystem::path> files;
    for (const auto& p : test::sample_photos())
        if (p.string().find("backstretch") != std::string::npos) files.push_back(p);
    { std::ofstream(dir / "broken.jpg") << "\xFF\xD8\xFF not really"; }
    files.push_back(dir / "broken.jpg");
    files.push_back(dir / "missing.jpg");
    files.push_back(files[0]);  // same key twice
    const auto inputs = inputs_from_files(files, {{"case", "c1"}});
    store::Store store(dir / "db");
    std::vector<std::string> order;
    std::vector<std::pair<std::string, ErrorCode>> failures;
    const auto summary = run_index_job(store, inputs, {}, [&](const IndexEvent& e) {
        order.push_back(e.input->key);
        if (e.outcome == IndexOutcome::failed) failures.emplace_back(e.input->key, e.error.code);
    });
    CHECK(summary.added == 11u);
    CHECK(summary.failed == 3u);
    REQUIRE(order.size() == inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) CHECK(order[i] == inputs[i].key);
    REQUIRE(failures.size() == 3u);
    CHECK(failures[0] == std::pair<std::string, ErrorCode>{"broken", ErrorCode::truncated});
    CHECK(failures[1] == std::pair<std::string, ErrorCode>{"missing", ErrorCode::io_error});
    CHECK(failures[2] == std::pair<std::string, ErrorCode>{"coffee", ErrorCode::conflict});
    CHECK(store.get("coffee")->labels.at("case") == "c1");
    // A second run changes nothing.
    const auto again = run_index_job(store, inputs_from_files({files.begin(), files.begin() + 11}, {}), {}, [](const IndexEvent&) {});
    CHECK(again.unchanged == 11u);
    CHECK(again.added == 0u);
    CHECK(store.stats().pdq_entries == 11u);
}
