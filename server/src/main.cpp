// neardup-server: the HTTP API over one index directory, or a router over the servers of every shard.
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "neardup/exit_status.hpp"
#include "neardup/server/handler.hpp"
#include "neardup/server/router.hpp"
#include "neardup/server/server.hpp"
#include "neardup/store/embedder_file.hpp"
#include "neardup/store/store.hpp"

namespace {

using neardup::kExitFailure;
using neardup::kExitOk;
using neardup::kExitUsage;

// "host:port" or ":port" or "port".
bool parse_listen(const std::string& text, std::string& host, unsigned short& port) {
    const auto colon = text.rfind(':');
    const std::string h = colon == std::string::npos ? "" : text.substr(0, colon);
    const std::string p = colon == std::string::npos ? text : text.substr(colon + 1);
    try {
        std::size_t used = 0;
        const unsigned long v = std::stoul(p, &used);
        if (used != p.size() || v > 65535) return false;
        port = static_cast<unsigned short>(v);
    } catch (const std::exception&) {
        return false;
    }
    host = h.empty() ? "127.0.0.1" : h;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return true;
}

// A server bound to its address, stopped by SIGINT and SIGTERM; nothing (logged) when the address cannot be used.
std::unique_ptr<neardup::server::Server> listening(neardup::server::Service& service, neardup::server::Metrics& metrics,
                                                   const neardup::server::ServerOptions& options, const std::string& listen) {
    try {
        auto server = std::make_unique<neardup::server::Server>(service, metrics, options);
        server->stop_on_signals();
        return server;
    } catch (const std::exception& e) {
        spdlog::error("cannot listen on {}: {}", listen, e.what());
        return nullptr;
    }
}

// Serves as a router until SIGINT or SIGTERM.
int run_router(const std::string& route_file, const neardup::server::HandlerOptions& handler_options,
               const neardup::server::ServerOptions& server_options, neardup::server::Metrics& metrics, const std::string& listen) {
    neardup::server::RouteTable table;
    try {
        table = neardup::server::load_route_table(route_file);
    } catch (const neardup::server::RouteTableError& e) {
        spdlog::error("{}", e.what());
        return kExitUsage;
    }
    std::size_t replicas = 0;
    for (const auto& s : table.shards) replicas += s.size();
    neardup::server::Router router(table, handler_options, metrics);
    auto server = listening(router, metrics, server_options, listen);
    if (!server) return kExitFailure;
    spdlog::info("routing on http://{}:{} to {} shards, {} replicas (deadline {} ms, {} ms per try)", server_options.address, server->port(),
                 table.shards.size(), replicas, table.deadline.count(), table.try_timeout.count());
    server->run();
    spdlog::info("stopped");
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"neardup-server: answers \"have we seen this photo before?\" over HTTP, and takes new references."};
    std::string db, listen = "127.0.0.1:8080", token_file, log_level = "info";
    neardup::server::ServerOptions server_options;
    neardup::server::HandlerOptions handler_options;
    double body_limit_mib = 20;
    double bodies_in_flight_mib = double(server_options.max_body_bytes_in_flight) / (1 << 20);
    double header_timeout_s = 10, body_timeout_s = 60;
    app.set_config("--config", "", "Read options from this file: one `name = value` per line, names as the options' without dashes "
                                   "(the package's /etc/neardup/neardup.conf); the command line wins");
    app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt name is an error, not silently ignored
    auto* db_option = app.add_option("--db", db, "Index directory (as built by `neardup index`; created if missing)");
    std::string route_file;
    app.add_option("--route", route_file,
                   "Serve as a router over shards instead of an index: fan searches out to one live replica of every shard "
                   "and merge them, send each key to its shard (FILE: JSON listing every shard's replica URLs; see the README)")
        ->excludes(db_option);
    std::string catalog;
    app.add_option("--catalog", catalog,
                   "A PostgreSQL catalog shared with other servers and index runs (postgresql://USER@HOST/DATABASE; default: "
                   "catalog.sqlite in --db, which then holds only this server's index files)")
        ->envname("NEARDUP_CATALOG");
    std::string shard;
    app.add_option("--shard", shard, "k/N: hold and search only the references whose keys shard k of N owns (needs --catalog)");
    std::string embedder;
    int embedder_input = neardup::EmbedderOptions{}.input_side;
    app.add_option("--embedder", embedder,
                   "An ONNX image-embedding model: searches also verify the references most similar by embedding, and new "
                   "references are embedded. The index records its model and refuses another (or none, to write)")
        ->envname("NEARDUP_EMBEDDER");
    app.add_option("--embedder-input", embedder_input, "The embedding model's square input side in pixels")
        ->capture_default_str()->check(CLI::Range(8, 2048));
    app.add_option("--listen", listen, "Address to listen on, HOST:PORT")->capture_default_str();
    app.add_option("--io-threads", server_options.io_threads, "Threads for network I/O")->capture_default_str()->check(CLI::Range(1, 64));
    app.add_option("--workers", server_options.workers, "Threads that decode, fingerprint and search (0: one per core)")
        ->capture_default_str()->check(CLI::Range(0, 256));
    app.add_option("--queue", server_options.queue_limit, "Requests queued or running on the workers before answering 503")
        ->capture_default_str()->check(CLI::Range(1, 100000));
    app.add_option("--max-connections", server_options.max_connections, "Open connections; more are closed on accept, and from 90 % of it on each new one closes the oldest idle one")
        ->capture_default_str()->check(CLI::Range(1, 1000000));
    app.add_option("--max-connections-per-client", server_options.max_connections_per_client,
                   "Open connections from one client address; more are closed on accept (behind a proxy, raise it to --max-connections)")
        ->capture_default_str()->check(CLI::Range(1, 1000000));
    app.add_option("--token-file", token_file, "File holding the bearer token that writes need (without it, writes are refused)");
    app.add_flag("--require-token-for-reads", handler_options.reads_require_token, "Searches and metadata reads need the token too");
    app.add_option("--body-limit-mib", body_limit_mib, "Largest request body, MiB")->capture_default_str()->check(CLI::Range(0.001, 1024.0));
    app.add_option("--max-body-bytes-in-flight-mib", bodies_in_flight_mib,
                   "Request bodies held in memory across all connections, MiB (at least --body-limit-mib); past it, 503")
        ->capture_default_str()->check(CLI::Range(0.001, 65536.0));
    app.add_option("--header-timeout", header_timeout_s, "Seconds to receive a request's headers (and keep-alive idle time)")
        ->capture_default_str()->check(CLI::Range(0.1, 3600.0));
    app.add_option("--body-timeout", body_timeout_s, "Seconds to receive a request's body")->capture_default_str()->check(CLI::Range(0.1, 3600.0));
    double query_cache_mib = static_cast<double>(neardup::store::StoreOptions{}.query_cache_bytes) / (1 << 20);
    app.add_option("--query-cache-mib", query_cache_mib,
                   "Memory for the signatures of recent queries, MiB: a repeated upload skips decoding and fingerprinting (0: off)")
        ->capture_default_str()->check(CLI::Range(0.0, 65536.0));
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str()
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? kExitOk : kExitUsage;
    }
    spdlog::set_level(spdlog::level::from_str(log_level));
    if (db.empty() == route_file.empty()) {
        spdlog::error("give --db DIR (serve an index) or --route FILE (route to shards)");
        return kExitUsage;
    }
    if (!route_file.empty() && (!catalog.empty() || !shard.empty() || !embedder.empty())) {
        spdlog::error("--route serves no index of its own: --catalog, --shard and --embedder are for its replicas");
        return kExitUsage;
    }
    std::shared_ptr<const neardup::Embedder> embedding_model;
    if (!embedder.empty()) {
        neardup::EmbedderOptions options;
        options.input_side = embedder_input;
        auto model = neardup::store::load_embedder_file(embedder, options);
        if (!model) {
            spdlog::error("--embedder: {}", model.error().message);
            return kExitUsage;
        }
        embedding_model = model.value();
    }
    std::optional<neardup::store::Shard> shard_of_server;
    if (!shard.empty() && !(shard_of_server = neardup::store::parse_shard(shard))) {
        spdlog::error("--shard {}: expected k/N with 0 <= k < N <= 4096", shard);
        return kExitUsage;
    }
    if (!parse_listen(listen, server_options.address, server_options.port)) {
        spdlog::error("--listen {}: expected HOST:PORT", listen);
        return kExitUsage;
    }
    if (!token_file.empty()) {
        std::ifstream in(token_file);
        std::string token;
        if (!in || !std::getline(in, token)) {
            spdlog::error("cannot read a token from --token-file {}", token_file);
            return kExitUsage;
        }
        while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
        if (token.size() < 16) {
            spdlog::error("the token in {} is shorter than 16 characters", token_file);
            return kExitUsage;
        }
        handler_options.token = token;
    }
    handler_options.body_limit = static_cast<std::size_t>(body_limit_mib * (1 << 20));
    server_options.max_body_bytes_in_flight = static_cast<std::size_t>(bodies_in_flight_mib * (1 << 20));
    server_options.header_timeout = std::chrono::milliseconds(static_cast<long>(header_timeout_s * 1000));
    server_options.body_timeout = std::chrono::milliseconds(static_cast<long>(body_timeout_s * 1000));

    neardup::server::Metrics metrics;
    if (!route_file.empty()) return run_router(route_file, handler_options, server_options, metrics, listen);
    neardup::server::Handler handler(handler_options, metrics);
    auto server = listening(handler, metrics, server_options, listen);
    if (!server) return kExitFailure;
    spdlog::info("listening on http://{}:{} (index loading from {})", server_options.address, server->port(), db);

    // The index loads while the server already answers /healthz (and /readyz with 503).
    std::unique_ptr<neardup::store::Store> store;
    std::string load_error;
    std::thread loader([&] {
        try {
            const auto t0 = std::chrono::steady_clock::now();
            neardup::store::StoreOptions store_options;
            store_options.query_cache_bytes = static_cast<std::size_t>(query_cache_mib * (1 << 20));
            store_options.catalog = catalog;
            store_options.signature.embedder = embedding_model;
            if (shard_of_server) store_options.shard = *shard_of_server;
            store = std::make_unique<neardup::store::Store>(db, store_options);
            const auto s = store->stats();
            handler.attach(*store);  // before the log line, which tells that /readyz answers 200
            spdlog::info("index ready: {} images, {} segments, loaded in {:.1f} s", s.active, s.segments,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        } catch (const std::exception& e) {
            load_error = e.what();
            spdlog::error("cannot open the index {}: {}", db, e.what());
            server->stop();
        }
    });
    server->run();
    loader.join();
    if (!load_error.empty()) return kExitFailure;
    try {
        store->save_snapshot();  // the next start loads instead of rebuilding
    } catch (const std::exception& e) {
        spdlog::warn("could not save a snapshot on exit: {}", e.what());
    }
    spdlog::info("stopped");
    return kExitOk;
}
