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
    add(it->second, seconds);
}

void Metrics::observe_stage(std::string_view stage, double seconds) {
    std::lock_guard lock(mutex_);
    auto it = stages_.find(stage);
    if (it == stages_.end()) it = stages_.emplace(std::string(stage), Histogram{}).first;
    add(it->second, seconds);
}

void Metrics::add(Histogram& h, double seconds) {
    for (std::size_t i = 0; i < kBuckets.size(); ++i)
        if (seconds <= kBuckets[i]) ++h.buckets[i];
    ++h.count;
    h.sum += seconds;
}

void Metrics::render(std::string& out, const char* name, const char* label_name, const std::map<std::string, Histogram, std::less<>>& by) {
    for (const auto& [key, h] : by) {
        const std::string v = label(key);
        for (std::size_t i = 0; i < kBuckets.size(); ++i)
            out += fmt::format("{}_bucket{{{}=\"{}\",le=\"{}\"}} {}\n", name, label_name, v, kBuckets[i], h.buckets[i]);
        out += fmt::format("{}_bucket{{{}=\"{}\",le=\"+Inf\"}} {}\n", name, label_name, v, h.count);
        out += fmt::format("{}_sum{{{}=\"{}\"}} {}\n", name, label_name, v, h.sum);
        out += fmt::format("{}_count{{{}=\"{}\"}} {}\n", name, label_name, v, h.count);
    }
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
        render(out, "neardup_http_request_duration_seconds", "route", latency_);
        out += "# HELP neardup_search_stage_seconds Time one search spent in each stage: decode, signature (whole image and "
               "regions), hashes (PDQ lookup), embeddings (nearest embeddings, with a model), votes (descriptor candidates), verify, "
               "regions (proposing them).\n";
        out += "# TYPE neardup_search_stage_seconds histogram\n";
        render(out, "neardup_search_stage_seconds", "stage", stages_);
    }
    for (const Gauge& g : gauges) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", g.name, g.help, g.name, g.counter ? "counter" : "gauge", g.name, g.value);
    }
    return out;
}

}  // namespace neardup::server
