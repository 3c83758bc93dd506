#include "neardup/server/server.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/task_arena.h>

#include "neardup/server/request_target.hpp"

namespace neardup::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// ServerOptions::workers, 0 meaning one per hardware thread.
int worker_threads(int workers) { return workers > 0 ? workers : tbb::info::default_concurrency(); }

// The first read of an idle connection: what most requests' headers fit in (Beast reads as much at a time).
constexpr std::size_t kFirstRead = 4096;

// The answer when the handler failed in a way it did not foresee: built from constants, so that building it
// cannot fail the same way.
Response internal_error(unsigned version, bool keep_alive) {
    Response res(http::status::internal_server_error, version);
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(keep_alive);
    res.body() = R"({"error":{"code":"internal","message":"internal error: the request could not be answered"}})" "\n";
    res.prepare_payload();
    return res;
}

void log_unexpected(std::string_view where, std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        spdlog::error("{}: unexpected exception: {}", where, printable(x.what(), 1000));
    } catch (...) {
        spdlog::error("{}: unexpected exception of unknown type", where);
    }
}

}  // namespace

class Session;

struct Server::Impl {
    Service& handler;
    Metrics& metrics;
    ServerOptions options;
    std::size_t body_budget;  // options.max_body_bytes_in_flight, at least one body
    std::size_t shed_idle_at;

    // Declared before the io_context: sessions its destructor destroys still find them.
    std::atomic<bool> stopping{false};
    std::atomic<std::size_t> connections{0};
    std::atomic<std::size_t> body_reserved{0};
    std::atomic<std::uint64_t> accepted{0}, closed{0}, refused{0}, shed{0}, requests{0};
    mutable std::mutex sessions_mutex;  // guards the four below; a Session's destructor takes it
    std::vector<std::weak_ptr<Session>> sessions;
    std::map<net::ip::address, std::size_t> per_client;
    std::map<std::uint64_t, std::weak_ptr<Session>> idle;  // by ticket: the oldest idle first
    std::uint64_t next_idle_ticket = 1;
    mutable std::mutex state_mutex;  // only for state_changed; taken before sessions_mutex, never after
    mutable std::condition_variable state_changed;

    net::io_context ioc;
    tcp::acceptor acceptor;
    net::signal_set signals;
    // Enough oneTBB worker threads for every worker slot: by default oneTBB keeps one thread fewer than the
    // cores, for an application thread that joins its work, and none joins here (requests are enqueued from
    // the I/O threads). Never fewer than the default allows (the store's own parallel work uses them too).
    // Before `workers`, which draws on them.
    tbb::global_control parallelism;
    tbb::task_arena workers;
    unsigned short port = 0;

    Impl(Service& h, Metrics& m, ServerOptions o);
    void accept();
    void admit(tcp::socket socket);
    void submit(std::shared_ptr<Session> session, Request request);
    // For an async route: the service answers when it is done, holding no worker meanwhile. Counted in the
    // queue depth (and refused past the queue limit) like work on the pool.
    void submit_async(std::shared_ptr<Session> session, Request request);
    // Counts a request into the queue; answers 503 and returns false when the queue is full.
    bool enter_queue(Session& session, const Request& request);
    Response handle(const Request& request) const;
    void begin_stop();

    // Wakes wait_until; called after every change of what state() reports.
    void changed() const {
        { std::lock_guard lock(state_mutex); }
        state_changed.notify_all();
    }
    ServerState state() const;
    bool reserve_body(std::size_t bytes);
    void release_body(std::size_t bytes);
    // A ticket for a session now waiting for a request's headers; leave_idle(0) does nothing.
    std::uint64_t enter_idle(std::weak_ptr<Session> session);
    void leave_idle(std::uint64_t ticket);
    void shed_oldest_idle();
    void release_client(const net::ip::address& peer);
};

class Session : public std::enable_shared_from_this<Session> {
public:
    // Counted in Impl::admit, which also took the client's slot.
    Session(tcp::socket socket, Server::Impl& server, net::ip::address peer)
        : stream_(std::move(socket)), timer_(stream_.get_executor()), server_(server), peer_(std::move(peer)) {}
    ~Session() {
        server_.leave_idle(idle_ticket_);
        release_body();
        server_.release_client(peer_);
        server_.connections.fetch_sub(1);
        server_.closed.fetch_add(1);
        server_.changed();
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void start() {
        net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
    }
    // On the session's strand.
    void close_if_idle() {
        if (!idle_) return;  // a request is being read or answered: it finishes first
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);  // the pending read completes with an error
    }
    // On the session's strand: closes the connection if it waits for a request of which nothing arrived yet.
    void shed() {
        if (idle_ticket_ == 0) return;  // bytes of a request arrived meanwhile
        server_.shed.fetch_add(1);
        server_.changed();
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);  // the pending read completes with an error
    }
    net::any_io_executor executor() { return stream_.get_executor(); }

    // Answers the current request; `close` closes the connection afterwards (the body may be unread).
    void respond(Response res, bool close = false) {
        release_body();  // the request is answered: its body is no longer held
        const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
        server_.metrics.observe(route_.pattern, method_, res.result_int(), seconds);
        server_.metrics.in_flight.fetch_sub(1);
        if (server_.stopping.load()) close = true;
        if (close) res.keep_alive(false);
        if (res.result_int() >= 500 && res.result() != http::status::service_unavailable)  // 503: expected, in the metrics
            spdlog::warn("{} {} -> {}", method_, target_, res.result_int());
        else spdlog::debug("{} {} -> {} in {:.1f} ms", method_, target_, res.result_int(), seconds * 1e3);
        auto message = std::make_shared<Response>(std::move(res));
        stream_.expires_after(server_.options.write_timeout);
        http::async_write(stream_, *message, [self = shared_from_this(), message](beast::error_code ec, std::size_t) {
            self->stream_.expires_never();
            if (ec) return self->shutdown();
            if (!message->keep_alive()) return self->linger();
            self->read_header();
        });
    }

private:
    // Reads are timed by our own timer, which cancels the read (so that a 408 can still be written); Beast's
    // stream timeout would close the socket.
    void arm(std::chrono::milliseconds timeout) {
        timed_out_ = false;
        timer_.expires_after(timeout);
        timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec) return;  // cancelled: the read finished first
            self->timed_out_ = true;
            beast::error_code ignored;
            self->stream_.socket().cancel(ignored);
        });
    }

    void read_header() {
        if (server_.stopping.load()) return shutdown();
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(server_.options.header_limit));
        parser_->body_limit(server_.handler.body_limit());
        refusal_.reset();
        idle_ = true;
        arm(server_.options.header_timeout);
        if (buffer_.size() != 0) return read_rest_of_header();  // a pipelined request is there already
        // Waits for the first bytes apart from the header read, so that the server knows which connections
        // are idle with nothing read: those it may close to make room (Impl::shed_oldest_idle).
        idle_ticket_ = server_.enter_idle(weak_from_this());
        stream_.async_read_some(buffer_.prepare(kFirstRead), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            self->server_.leave_idle(std::exchange(self->idle_ticket_, 0));
            self->buffer_.commit(n);
            if (ec && n == 0) {
                self->timer_.cancel();
                return self->fail_read(ec, false);
            }
            self->read_rest_of_header();
        });
    }

    // Under the timer armed in read_header.
    void read_rest_of_header() {
        http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->timer_.cancel();
            self->on_header(ec);
        });
    }

    void begin_request(std::string_view method, std::string_view target) {
        idle_ = false;
        start_ = Clock::now();
        method_ = std::string(method);
        target_ = printable(target, 200);
        server_.metrics.in_flight.fetch_add(1);
        server_.requests.fetch_add(1);
        server_.changed();
    }

    // A request that could not be read in full. Answered (and the connection closed) unless nothing of it
    // arrived (an idle keep-alive connection timed out, or was closed for shutdown) or the client left.
    void fail_read(beast::error_code ec, bool header_done) {
        const bool client_left = ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
                                 ec == net::error::connection_reset || ec == net::error::broken_pipe;
        const bool timed_out = timed_out_ && ec == net::error::operation_aborted;
        if (!header_done && (!parser_->got_some() || client_left || (ec == net::error::operation_aborted && !timed_out)))
            return shutdown();
        if (header_done && (client_left || (ec == net::error::operation_aborted && !timed_out))) return abandon();
        if (!header_done) {
            begin_request("?", "?");
            route_ = Route{"unmatched", false};
        }
        ApiError error(http::status::bad_request, "bad_request", "malformed request: " + ec.message());
        if (timed_out)
            error = ApiError(http::status::request_timeout, "request_timeout", "the request was not received in time");
        else if (ec == http::error::body_limit)
            error = ApiError(http::status::payload_too_large, "payload_too_large",
                             "the body is over the limit of " + std::to_string(server_.handler.body_limit()) + " bytes");
        else if (ec == http::error::header_limit)
            error = ApiError(http::status::request_header_fields_too_large, "header_too_large",
                             "the request headers are over " + std::to_string(server_.options.header_limit) + " bytes");
        respond(error_response(error, 11, false), true);
    }

    void on_header(beast::error_code ec) {
        if (ec) return fail_read(ec, false);
        const RequestHeader& header = parser_->get();
        begin_request(sv(header.method_string()), sv(header.target()));
        std::optional<Response> refused;
        try {
            route_ = server_.handler.route(header);
            refused = server_.handler.precheck(header);
        } catch (...) {
            log_unexpected(method_ + " " + target_, std::current_exception());
            return respond(internal_error(header.version(), false), true);
        }
        const bool expects_continue = beast::iequals(header[http::field::expect], "100-continue");
        if (refused) {
            // Not read, answered at once, the connection closed: a body over the limit (413), a body that
            // cannot be framed (501), one the client holds back until told to continue (it would be waited
            // for until the body timeout), one the memory budget cannot hold. Other refusals read (and drop)
            // the body so that the connection can go on.
            const auto status = refused->result();
            if (status == http::status::payload_too_large || status == http::status::not_implemented || expects_continue ||
                !reserve_body())
                return respond(std::move(*refused), true);
            refusal_ = std::move(*refused);
            return read_body();
        }
        if (!reserve_body())
            return respond(error_response(ApiError(http::status::service_unavailable, "overloaded",
                                                   "request bodies in memory are at the server's limit of " +
                                                       std::to_string(server_.body_budget) + " bytes; retry shortly"),
                                          header.version(), false),
                           true);
        if (expects_continue) {
            auto go_on = std::make_shared<http::response<http::empty_body>>(http::status::continue_, header.version());
            http::async_write(stream_, *go_on, [self = shared_from_this(), go_on](beast::error_code ec, std::size_t) {
                if (ec) return self->abandon();
                self->read_body();
            });
            return;
        }
        read_body();
    }

    void read_body() {
        arm(server_.options.body_timeout);
        http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->timer_.cancel();
            self->on_body(ec);
        });
    }

    void on_body(beast::error_code ec) {
        if (ec) return fail_read(ec, true);
        Request request = parser_->release();
        if (refusal_) {
            refusal_->keep_alive(request.keep_alive());
            return respond(std::move(*refusal_));
        }
        if (route_.async) return server_.submit_async(shared_from_this(), std::move(request));
        if (route_.on_worker) return server_.submit(shared_from_this(), std::move(request));
        respond(server_.handle(request));
    }

    // Reserves the memory of the body the headers announce; false when the budget cannot hold it.
    bool reserve_body() {
        std::size_t bytes = 0;
        if (parser_->chunked()) bytes = server_.handler.body_limit();
        else if (const auto length = parser_->content_length())
            bytes = static_cast<std::size_t>(std::min<std::uint64_t>(*length, server_.handler.body_limit()));
        if (bytes == 0) return true;
        if (!server_.reserve_body(bytes)) return false;
        reserved_ = bytes;
        return true;
    }
    void release_body() {
        if (reserved_ == 0) return;
        server_.release_body(std::exchange(reserved_, 0));
    }

    // The client went away mid-request: nothing to answer.
    void abandon() {
        release_body();
        server_.metrics.in_flight.fetch_sub(1);
        shutdown();
    }

    // Closing with unread input would reset the connection and could destroy the answer before the client
    // reads it: stop sending, then drain what the client still sends for a moment before closing.
    void linger() {
        idle_ = false;
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        if (ec) return shutdown();
        lingered_ = 0;
        arm(std::chrono::milliseconds(1000));
        drain();
    }
    void drain() {
        auto scratch = std::make_shared<std::array<char, 16384>>();
        stream_.async_read_some(net::buffer(*scratch), [self = shared_from_this(), scratch](beast::error_code ec, std::size_t n) {
            self->lingered_ += n;
            if (ec || self->lingered_ > self->server_.handler.body_limit() + (1u << 20)) {
                self->timer_.cancel();
                return self->shutdown();
            }
            self->drain();
        });
    }

    void shutdown() {
        idle_ = false;
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.close();
    }

    beast::tcp_stream stream_;
    net::steady_timer timer_;
    Server::Impl& server_;
    net::ip::address peer_;
    std::uint64_t idle_ticket_ = 0;  // while waiting for a request's first bytes
    std::size_t reserved_ = 0;       // of the body budget
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::optional<Response> refusal_;  // decided on the headers, answered once the body is read
    bool idle_ = false;
    bool timed_out_ = false;
    std::size_t lingered_ = 0;
    Clock::time_point start_;
    Route route_{"unmatched", false};
    std::string method_, target_;
};

Server::Impl::Impl(Service& h, Metrics& m, ServerOptions o)
    : handler(h),
      metrics(m),
      options(std::move(o)),
      body_budget(std::max(options.max_body_bytes_in_flight, handler.body_limit())),
      shed_idle_at(std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(double(options.max_connections) * kShedIdleAt)))),
      ioc(std::max(1, options.io_threads)),
      acceptor(net::make_strand(ioc)),
      signals(ioc),
      parallelism(tbb::global_control::max_allowed_parallelism,
                  std::max(tbb::info::default_concurrency(), worker_threads(options.workers) + 1)),
      // No slot reserved for an application thread (the default reserves one): only oneTBB's threads run
      // requests, so every slot must be theirs, or a 2-core machine would serve on one core.
      workers(worker_threads(options.workers), 0) {
    const tcp::endpoint endpoint(net::ip::make_address(options.address), options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    port = acceptor.local_endpoint().port();
    handler.server_gauges = [this] {
        return std::vector<Gauge>{{"neardup_work_queue_capacity", "Requests the worker pool queue holds before answering 503.",
                                   double(options.queue_limit)},
                                  {"neardup_http_connections", "Open client connections.", double(connections.load())},
                                  {"neardup_http_body_bytes_reserved", "Bytes of request bodies the server holds or is reading.",
                                   double(body_reserved.load())},
                                  {"neardup_http_body_bytes_capacity", "Bytes of request bodies the server holds at most before answering 503.",
                                   double(body_budget)}};
    };
}

void Server::Impl::accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
        if (ec) spdlog::warn("accept: {}", ec.message());
        else admit(std::move(socket));
        accept();
    });
}

// On the acceptor's strand.
void Server::Impl::admit(tcp::socket socket) {
    beast::error_code ec;
    const net::ip::address peer = socket.remote_endpoint(ec).address();  // unspecified when the client already left
    if (connections.load() + 1 >= shed_idle_at) shed_oldest_idle();
    std::string refusal;
    {
        std::lock_guard lock(sessions_mutex);
        std::size_t& mine = per_client[peer];
        if (connections.load() >= options.max_connections)
            refusal = std::to_string(connections.load()) + " connections open";
        else if (mine >= options.max_connections_per_client)
            refusal = std::to_string(mine) + " connections open from " + peer.to_string();
        if (refusal.empty()) {
            ++mine;
            connections.fetch_add(1);
        } else if (mine == 0) {
            per_client.erase(peer);
        }
    }
    if (!refusal.empty()) {
        spdlog::warn("{}: closing a new connection", refusal);
        refused.fetch_add(1);
        changed();
        socket.close(ec);
        return;
    }
    accepted.fetch_add(1);
    auto session = std::make_shared<Session>(std::move(socket), *this, peer);
    {
        std::lock_guard lock(sessions_mutex);
        std::erase_if(sessions, [](const auto& w) { return w.expired(); });
        sessions.push_back(session);
    }
    changed();
    session->start();
}

void Server::Impl::release_client(const net::ip::address& peer) {
    std::lock_guard lock(sessions_mutex);
    const auto it = per_client.find(peer);
    if (it != per_client.end() && --it->second == 0) per_client.erase(it);
}

std::uint64_t Server::Impl::enter_idle(std::weak_ptr<Session> session) {
    std::uint64_t ticket = 0;
    {
        std::lock_guard lock(sessions_mutex);
        ticket = next_idle_ticket++;
        idle.emplace(ticket, std::move(session));
    }
    changed();
    return ticket;
}

void Server::Impl::leave_idle(std::uint64_t ticket) {
    if (ticket == 0) return;
    {
        std::lock_guard lock(sessions_mutex);
        if (idle.erase(ticket) == 0) return;  // already taken by shed_oldest_idle
    }
    changed();
}

// Idle connections are the cheapest to lose: a client that sends on one finds it closed and retries on a new
// one, as HTTP/1.1 clients do with keep-alive connections. The oldest first: most likely forgotten.
void Server::Impl::shed_oldest_idle() {
    std::shared_ptr<Session> oldest;
    {
        std::lock_guard lock(sessions_mutex);
        while (!oldest && !idle.empty()) {
            oldest = idle.begin()->second.lock();
            idle.erase(idle.begin());
        }
    }
    if (!oldest) return;
    changed();
    net::post(oldest->executor(), [oldest] { oldest->shed(); });
}

bool Server::Impl::reserve_body(std::size_t bytes) {
    std::size_t held = body_reserved.load();
    do {
        if (bytes > body_budget - std::min(held, body_budget)) return false;
    } while (!body_reserved.compare_exchange_weak(held, held + bytes));
    changed();
    return true;
}

void Server::Impl::release_body(std::size_t bytes) {
    body_reserved.fetch_sub(bytes);
    changed();
}

ServerState Server::Impl::state() const {
    ServerState s;
    s.connections = connections.load();
    s.body_bytes_reserved = body_reserved.load();
    s.accepted = accepted.load();
    s.closed = closed.load();
    s.refused = refused.load();
    s.shed = shed.load();
    s.requests = requests.load();
    std::lock_guard lock(sessions_mutex);
    s.idle_connections = idle.size();
    return s;
}

Response Server::Impl::handle(const Request& request) const {
    try {
        return handler.handle(request);
    } catch (...) {
        log_unexpected(std::string(sv(request.method_string())) + " " + printable(sv(request.target()), 200), std::current_exception());
        return internal_error(request.version(), request.keep_alive());
    }
}

bool Server::Impl::enter_queue(Session& session, const Request& request) {
    if (metrics.queue_depth.fetch_add(1) < static_cast<std::int64_t>(options.queue_limit)) return true;
    metrics.queue_depth.fetch_sub(1);
    session.respond(error_response(ApiError(http::status::service_unavailable, "overloaded", "the server is at capacity; retry shortly"),
                                   request.version(), request.keep_alive()));
    return false;
}

void Server::Impl::submit(std::shared_ptr<Session> session, Request request) {
    if (!enter_queue(*session, request)) return;
    // The work guard keeps the I/O threads running until the answer is posted back.
    // oneTBB runs the task as a const functor: what it hands on lives in a Job. The session moves on to the
    // posted answer: were it still held here when the guard goes, run() could return and the server be
    // destroyed while this thread still ends the session.
    struct Job {
        std::shared_ptr<Session> session;
        Request request;
    };
    auto job = std::make_shared<Job>(Job{std::move(session), std::move(request)});
    auto task = [this, job, guard = net::make_work_guard(ioc)] {
        Response res = handle(job->request);
        job->request = {};
        metrics.queue_depth.fetch_sub(1);
        const auto executor = job->session->executor();
        net::post(executor, [session = std::move(job->session), res = std::make_shared<Response>(std::move(res))] {
            session->respond(std::move(*res));
        });
    };
    workers.enqueue(std::move(task));
}

void Server::Impl::submit_async(std::shared_ptr<Session> session, Request request) {
    if (!enter_queue(*session, request)) return;
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    const std::string what = std::string(sv(request.method_string())) + " " + printable(sv(request.target()), 200);
    // Answered once: by the service; here when it throws before taking the request; or, should the service drop
    // every copy of `answer` unanswered, with a 500 (the request and the queue's count are never left hanging).
    // The service may copy `answer` and drop the copies on its own threads: they share one Pending, which lets
    // the session go before the work guard, so that run() cannot return (and the server go) while a session is
    // being ended.
    struct Pending {
        Pending(Impl& s, std::shared_ptr<Session> sn, unsigned v, bool k)
            : guard(net::make_work_guard(s.ioc)), server(s), session(std::move(sn)), version(v), keep_alive(k) {}
        ~Pending() {
            if (!answered) give(internal_error(version, keep_alive));
        }
        void give(Response res) {
            if (answered.exchange(true)) return;
            server.metrics.queue_depth.fetch_sub(1);
            net::post(session->executor(), [session = session, res = std::make_shared<Response>(std::move(res))] { session->respond(std::move(*res)); });
        }
        net::executor_work_guard<net::io_context::executor_type> guard;
        Impl& server;
        std::shared_ptr<Session> session;
        unsigned version;
        bool keep_alive;
        std::atomic<bool> answered{false};
    };
    auto pending = std::make_shared<Pending>(*this, std::move(session), version, keep_alive);
    auto answer = [pending](Response res) { pending->give(std::move(res)); };
    try {
        handler.handle_async(std::move(request), answer);
    } catch (...) {
        log_unexpected(what, std::current_exception());
        answer(internal_error(version, keep_alive));
    }
}

void Server::Impl::begin_stop() {
    if (stopping.exchange(true)) return;
    spdlog::info("stopping: no new connections; finishing requests in flight");
    beast::error_code ec;
    acceptor.close(ec);
    signals.cancel(ec);
    // Posted outside the lock: a session destroyed meanwhile takes the lock in its destructor.
    std::vector<std::shared_ptr<Session>> open;
    {
        std::lock_guard lock(sessions_mutex);
        for (const auto& w : sessions)
            if (auto s = w.lock()) open.push_back(std::move(s));
    }
    for (auto& s : open) net::post(s->executor(), [s] { s->close_if_idle(); });
}

Server::Server(Service& handler, Metrics& metrics, ServerOptions options)
    : impl_(std::make_unique<Impl>(handler, metrics, std::move(options))) {}

Server::~Server() = default;

unsigned short Server::port() const { return impl_->port; }

void Server::stop_on_signals() {
    impl_->signals.add(SIGINT);
    impl_->signals.add(SIGTERM);
    impl_->signals.async_wait([this](beast::error_code ec, int signal) {
        if (ec) return;
        spdlog::info("signal {} received", signal);
        stop();
    });
}

void Server::run() {
    impl_->accept();
    // The last line of defence: a handler that throws leaves run(), which may be called again (Asio's rule);
    // the connection it served is dropped, the others go on.
    auto serve = [this] {
        for (;;) {
            try {
                impl_->ioc.run();
                return;
            } catch (...) {
                log_unexpected("I/O thread", std::current_exception());
            }
        }
    };
    std::vector<std::thread> threads;
    for (int i = 1; i < impl_->options.io_threads; ++i) threads.emplace_back(serve);
    serve();
    for (auto& t : threads) t.join();
}

void Server::stop() {
    net::post(impl_->ioc, [impl = impl_.get()] { impl->begin_stop(); });
}

bool Server::stopping() const { return impl_->stopping.load(); }

ServerState Server::state() const { return impl_->state(); }

bool Server::wait_until(const std::function<bool(const ServerState&)>& done, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(impl_->state_mutex);
    return impl_->state_changed.wait_for(lock, timeout, [&] { return done(impl_->state()); });
}

}  // namespace neardup::server
