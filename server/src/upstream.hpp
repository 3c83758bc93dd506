// An HTTP/1.1 client to one replica, for the router: asynchronous exchanges on the router's io_context, each
// bounded by a deadline, over kept-alive connections it pools.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "neardup/server/http.hpp"
#include "neardup/server/route_table.hpp"

namespace neardup::server {

// Made with std::make_shared: exchanges in flight hold it. send() may be called from any thread; the exchanges
// run on `executor`, which must be one thread's (the router runs its io_context on one thread), because a
// Beast stream's timer and its reads would otherwise need a strand.
class Upstream : public std::enable_shared_from_this<Upstream> {
public:
    using Clock = std::chrono::steady_clock;
    // What became of one request.
    struct Outcome {
        boost::system::error_code error;  // connect, send, receive, timeout at the deadline; none: `response` holds the answer
        Response response;
        // Whether any of the request may have reached the replica: false when it failed before a connection
        // was made (a write that may have been applied must not be sent to another replica).
        bool maybe_sent = false;
    };
    // Called once, on the executor's thread.
    using Done = std::function<void(Outcome)>;
    // Largest answer read (a listing of 500 entries, a thumbnail, or a PDQ search of 1000 hashes fits far below).
    static constexpr std::size_t kMaxResponseBytes = 64u << 20;

    Upstream(boost::asio::any_io_executor executor, Endpoint endpoint, std::size_t max_idle = 32);
    ~Upstream();

    // Sends `request` as is (its Host, connection and length fields set by the caller) and reads the answer.
    // A kept-alive connection the replica closed meanwhile is retried once on a new connection.
    void send(std::shared_ptr<const Request> request, Clock::time_point deadline, Done done);
    const Endpoint& endpoint() const { return endpoint_; }
    // Closes the pooled idle connections and forgets the resolved addresses (a replica that failed may have
    // been restarted, or moved).
    void drop_idle();

private:
    struct Exchange;
    std::unique_ptr<boost::beast::tcp_stream> take_idle();
    void give_back(std::unique_ptr<boost::beast::tcp_stream> stream);
    std::optional<boost::asio::ip::tcp::resolver::results_type> cached_addresses();
    void remember_addresses(const boost::asio::ip::tcp::resolver::results_type& addresses);
    void forget_addresses();

    boost::asio::any_io_executor executor_;
    Endpoint endpoint_;
    std::size_t max_idle_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<boost::beast::tcp_stream>> idle_;
    // The host's addresses, resolved once (a lookup is not bounded by the deadline) and again after a failure.
    std::optional<boost::asio::ip::tcp::resolver::results_type> resolved_;
};

}  // namespace neardup::server
