#include "neardup/server/metrics.hpp"

#include <fmt/format.h>

namespace neardup::server {
namespace {

// Label values escape backslash, double quote and newline.
std::string label(std::string_view v) {
    std::string out;
    for (const char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

}  // namespace

void Metrics::observe(std::string_view route, std::string_view method, unsigned status, double seconds) {
    std::lock_guard lock(mutex_);
    ++requests_[{std::string(route), std::string(method), status}];
    auto it = latency_.find(route);
    if (it == latency_.end()) it = latency_.emplace(std::string(route), Histogram{}).first;
    Histogram& h = it->second;
    for (std::size_t i = 0; i < kBuckets.size(); ++i)
        if (seconds <= kBuckets[i]) ++h.buckets[i];
    ++h.count;
    h.sum += seconds;
}

std::uint64_t Metrics::requests(std::string_view route, std::string_view method, unsigned status) const {
    std::lock_guard lock(mutex_);
    const auto it = requests_.find({std::string(route), std::string(method), status});
    return it == requests_.end() ? 0 : it->second;
}

std::string Metrics::render(const std::vector<Gauge>& gauges) const {
    std::string out;
    {
        std::lock_guard lock(mutex_);
        out += "# HELP neardup_http_requests_total HTTP requests answered, by route, method and status.\n";
        out += "# TYPE neardup_http_requests_total counter\n";
        for (const auto& [k, n] : requests_)
            out += fmt::format("neardup_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                               label(std::get<0>(k)), label(std::get<1>(k)), std::get<2>(k), n);
        out += "# HELP neardup_http_request_duration_seconds Time from a request's headers to its answer, by route.\n";
        out += "# TYPE neardup_http_request_duration_seconds histogram\n";
        for (const auto& [route, h] : latency_) {
            const std::string r = label(route);
            for (std::size_t i = 0; i < kBuckets.size(); ++i)
                out += fmt::format("neardup_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", r, kBuckets[i], h.buckets[i]);
            out += fmt::format("neardup_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", r, h.count);
            out += fmt::format("neardup_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", r, h.sum);
            out += fmt::format("neardup_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", r, h.count);
        }
    }
    for (const Gauge& g : gauges) {
        out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", g.name, g.help, g.name, g.name, g.value);
    }
    return out;
}

}  // namespace neardup::server
