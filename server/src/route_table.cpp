#include "neardup/server/route_table.hpp"

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "neardup/server/request_target.hpp"

namespace neardup::server {
namespace {

constexpr std::size_t kMaxShards = 4096;  // the most store::parse_shard accepts

std::chrono::milliseconds milliseconds_field(const nlohmann::json& doc, const char* name, std::chrono::milliseconds fallback) {
    if (!doc.contains(name)) return fallback;
    const auto& v = doc[name];
    if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > 600'000)
        throw RouteTableError(std::string("'") + name + "' must be an integer number of milliseconds in [1, 600000]");
    return std::chrono::milliseconds(v.get<long long>());
}

}  // namespace

std::string Endpoint::url() const {
    return "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

Endpoint parse_endpoint(std::string_view url) {
    const std::string quoted = "'" + printable(url) + "'";
    constexpr std::string_view scheme = "http://";
    if (!url.starts_with(scheme))
        throw RouteTableError("replica " + quoted + " must be http://HOST:PORT (the router speaks plain HTTP to its replicas)");
    std::string_view rest = url.substr(scheme.size());
    if (rest.ends_with('/')) rest.remove_suffix(1);
    Endpoint e;
    std::string_view port;
    if (rest.starts_with('[')) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
            throw RouteTableError("replica " + quoted + ": expected http://[IPv6]:PORT");
        e.host = std::string(rest.substr(1, close - 1));
        port = rest.substr(close + 2);
    } else {
        const auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) throw RouteTableError("replica " + quoted + " has no port: expected http://HOST:PORT");
        e.host = std::string(rest.substr(0, colon));
        port = rest.substr(colon + 1);
    }
    if (e.host.empty() || e.host.find_first_of("/?#@ ") != std::string::npos)
        throw RouteTableError("replica " + quoted + " has no valid host: expected http://HOST:PORT");
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535)
        throw RouteTableError("replica " + quoted + " has no valid port (1 to 65535)");
    e.port = std::to_string(value);
    return e;
}

RouteTable parse_route_table(std::string_view json_text) {
    const auto doc = nlohmann::json::parse(json_text, nullptr, false);
    if (doc.is_discarded()) throw RouteTableError("not valid JSON");
    if (!doc.is_object()) throw RouteTableError("expected a JSON object with 'shards'");
    for (const auto& [name, value] : doc.items())
        if (name != "shards" && name != "deadline_ms" && name != "try_timeout_ms" && name != "health_interval_ms")
            throw RouteTableError("unknown field '" + printable(name) + "' (known: shards, deadline_ms, try_timeout_ms, health_interval_ms)");
    if (!doc.contains("shards") || !doc["shards"].is_array() || doc["shards"].empty())
        throw RouteTableError("'shards' must be a non-empty list: one list of replica URLs per shard");
    const auto& shards = doc["shards"];
    if (shards.size() > kMaxShards) throw RouteTableError("'shards' lists " + std::to_string(shards.size()) + " shards; at most 4096");
    RouteTable table;
    std::set<std::string> seen;
    for (std::size_t k = 0; k < shards.size(); ++k) {
        const std::string where = "shard " + std::to_string(k) + "/" + std::to_string(shards.size());
        if (!shards[k].is_array() || shards[k].empty()) throw RouteTableError(where + " must be a non-empty list of replica URLs");
        std::vector<Endpoint> replicas;
        for (const auto& r : shards[k]) {
            if (!r.is_string()) throw RouteTableError(where + ": a replica must be a URL string");
            Endpoint e = parse_endpoint(r.get<std::string>());
            if (!seen.insert(e.url()).second) throw RouteTableError(where + ": replica " + e.url() + " is listed twice");
            replicas.push_back(std::move(e));
        }
        table.shards.push_back(std::move(replicas));
    }
    table.deadline = milliseconds_field(doc, "deadline_ms", table.deadline);
    table.try_timeout = milliseconds_field(doc, "try_timeout_ms", std::min(table.try_timeout, table.deadline));
    table.health_interval = milliseconds_field(doc, "health_interval_ms", table.health_interval);
    if (table.try_timeout > table.deadline)
        throw RouteTableError("'try_timeout_ms' (" + std::to_string(table.try_timeout.count()) + ") is over 'deadline_ms' (" +
                              std::to_string(table.deadline.count()) + ")");
    return table;
}

RouteTable load_route_table(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw RouteTableError("cannot read the route file " + path.string());
    std::ostringstream text;
    text << in.rdbuf();
    try {
        return parse_route_table(text.str());
    } catch (const RouteTableError& e) {
        throw RouteTableError("route file " + path.string() + ": " + e.what());
    }
}

}  // namespace neardup::server
