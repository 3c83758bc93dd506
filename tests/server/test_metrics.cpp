#include <catch2/catch.hpp>

#include <thread>

#include "neardup/server/metrics.hpp"

using namespace neardup::server;

TEST_CASE("metrics count requests and fill cumulative latency buckets", "[server][metrics]") {
    Metrics m;
    m.observe("/v1/search", "POST", 200, 0.00390625);  // binary fractions: the sum prints exactly
    m.observe("/v1/search", "POST", 200, 0.03125);
    m.observe("/v1/search", "POST", 400, 2.0);
    m.observe("/healthz", "GET", 200, 0.0001);
    CHECK(m.requests("/v1/search", "POST", 200) == 2);
    CHECK(m.requests("/v1/search", "POST", 400) == 1);
    CHECK(m.requests("/v1/search", "GET", 200) == 0);
    const std::string text = m.render({{"neardup_index_entries", "References.", 42}});
    auto has = [&](const std::string& line) {
        INFO(line);
        CHECK(text.find(line + "\n") != std::string::npos);
    };
    has("# TYPE neardup_http_requests_total counter");
    has("neardup_http_requests_total{route=\"/v1/search\",method=\"POST\",status=\"200\"} 2");
    has("neardup_http_requests_total{route=\"/v1/search\",method=\"POST\",status=\"400\"} 1");
    has("# TYPE neardup_http_request_duration_seconds histogram");
    has("neardup_http_request_duration_seconds_bucket{route=\"/v1/search\",le=\"0.001\"} 0");
    has("neardup_http_request_duration_seconds_bucket{route=\"/v1/search\",le=\"0.005\"} 1");
    has("neardup_http_request_duration_seconds_bucket{route=\"/v1/search\",le=\"0.05\"} 2");
    has("neardup_http_request_duration_seconds_bucket{route=\"/v1/search\",le=\"2.5\"} 3");
    has("neardup_http_request_duration_seconds_bucket{route=\"/v1/search\",le=\"+Inf\"} 3");
    has("neardup_http_request_duration_seconds_count{route=\"/v1/search\"} 3");
    has("neardup_http_request_duration_seconds_sum{route=\"/v1/search\"} 2.03515625");
    has("neardup_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.001\"} 1");
    has("# TYPE neardup_search_stage_seconds histogram");  // present before any search, empty
    has("# TYPE neardup_index_entries gauge");
    has("neardup_index_entries 42");
}

TEST_CASE("search stages are histograms labelled by stage", "[server][metrics]") {
    Metrics m;
    m.observe_stage("votes", 0.00390625);
    m.observe_stage("votes", 0.5);
    m.observe_stage("verify", 0.0);
    const std::string text = m.render({});
    auto has = [&](const std::string& line) {
        INFO(line);
        CHECK(text.find(line + "\n") != std::string::npos);
    };
    has("neardup_search_stage_seconds_bucket{stage=\"votes\",le=\"0.001\"} 0");
    has("neardup_search_stage_seconds_bucket{stage=\"votes\",le=\"0.005\"} 1");
    has("neardup_search_stage_seconds_bucket{stage=\"votes\",le=\"0.5\"} 2");
    has("neardup_search_stage_seconds_count{stage=\"votes\"} 2");
    has("neardup_search_stage_seconds_sum{stage=\"votes\"} 0.50390625");
    has("neardup_search_stage_seconds_bucket{stage=\"verify\",le=\"0.001\"} 1");
    CHECK(text.find("stage=\"decode\"") == std::string::npos);  // never observed, not invented
}

TEST_CASE("label values are escaped", "[server][metrics]") {
    Metrics m;
    m.observe("a\"b\\c\nd", "GET", 404, 0.1);
    CHECK(m.render({}).find("route=\"a\\\"b\\\\c\\nd\"") != std::string::npos);
}

TEST_CASE("metrics are safe from many threads", "[server][metrics][concurrency]") {
    Metrics m;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i) m.observe("/v1/search", "POST", 200, 0.01);
        });
    for (auto& t : threads) t.join();
    CHECK(m.requests("/v1/search", "POST", 200) == 4000);
}
