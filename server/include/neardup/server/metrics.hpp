// Request counts and latency histograms per route, and gauges, in the Prometheus text format (0.0.4).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace neardup::server {

struct Gauge {
    std::string name;  // e.g. neardup_index_references
    std::string help;
    double value = 0;
    bool counter = false;  // rendered as a counter (a running total read at scrape time, name ending _total)
};

// Thread-safe.
class Metrics {
public:
    // Upper bounds of the latency buckets, seconds (+Inf is implied).
    static constexpr std::array<double, 13> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                        0.25,  0.5,    1,     2.5,  5,    10};

    // One answered request: its route (a pattern such as "/v1/images/{key}", not the raw path), method,
    // status, and seconds from its headers being read to its answer being ready.
    void observe(std::string_view route, std::string_view method, unsigned status, double seconds);
    // The exposition text: counters and histograms, then `gauges`.
    std::string render(const std::vector<Gauge>& gauges) const;

    // Seconds one search spent in one stage (decode, signature, hashes, votes, verify, regions: the
    // fields of store::SearchTrace), as the histogram neardup_search_stage_seconds{stage=...}.
    void observe_stage(std::string_view stage, double seconds);

    std::uint64_t requests(std::string_view route, std::string_view method, unsigned status) const;

    // Work waiting for or running on the worker pool; requests being handled.
    std::atomic<std::int64_t> queue_depth{0};
    std::atomic<std::int64_t> in_flight{0};

private:
    struct Histogram {
        std::array<std::uint64_t, kBuckets.size()> buckets{};
        std::uint64_t count = 0;
        double sum = 0;
    };
    mutable std::mutex mutex_;
    std::map<std::tuple<std::string, std::string, unsigned>, std::uint64_t> requests_;
    static void add(Histogram& h, double seconds);
    static void render(std::string& out, const char* name, const char* label_name, const std::map<std::string, Histogram, std::less<>>& by);
    std::map<std::string, Histogram, std::less<>> latency_;
    std::map<std::string, Histogram, std::less<>> stages_;
};

}  // namespace neardup::server
