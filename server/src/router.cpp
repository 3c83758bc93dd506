#include "neardup/server/router.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "neardup/server/openapi.hpp"
#include "neardup/server/ui_assets.hpp"
#include "neardup/store/searcher.hpp"
#include "neardup/store/shard.hpp"
#include "upstream.hpp"

namespace neardup::server {
namespace {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
double rounded_ms(Clock::time_point t) { return std::round(ms_since(t) * 100) / 100; }

// The answer of one shard: the replica's response, or why none came.
struct ShardAnswer {
    std::optional<Response> response;
    std::string failure;  // when no replica answered
};

// Headers of a replica's answer that a client needs.
constexpr http::field kPassedOn[] = {http::field::content_type, http::field::location, http::field::www_authenticate,
                                     http::field::allow, http::field::cache_control, http::field::retry_after};

Response pass_on(const Response& from, unsigned version, bool keep_alive) {
    Response res(from.result(), version);
    for (const auto f : kPassedOn)
        if (const auto v = from[f]; !v.empty()) res.set(f, v);
    res.body() = from.body();
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

int int_param(const RequestTarget& target, const char* name, int fallback) {
    const auto text = target.get(name);
    if (!text) return fallback;
    int v = fallback;
    std::from_chars(text->data(), text->data() + text->size(), v);  // the replicas refuse what is not an integer
    return v;
}

std::string shard_list(const std::vector<int>& shards) {
    std::string out;
    for (const int k : shards) out += (out.empty() ? "" : ", ") + std::to_string(k);
    return out;
}

}  // namespace

struct Router::Impl : std::enable_shared_from_this<Impl> {
    struct Replica {
        int shard = 0;
        std::shared_ptr<Upstream> upstream;
        std::atomic<bool> live{false};
        std::atomic<bool> wrong_shard{false};  // its /readyz names another shard: never sent a request
        std::atomic<std::uint64_t> failures{0};
        mutable std::mutex mutex;
        std::string problem = "not asked yet";
    };
    struct Shard {
        std::vector<Replica*> replicas;
        std::atomic<unsigned> next{0};
    };

    RouteTable table;
    HandlerOptions options;
    Metrics& metrics;
    net::io_context io;
    net::executor_work_guard<net::io_context::executor_type> work{io.get_executor()};
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<Replica>> replicas;
    std::vector<Shard> shards;
    net::steady_timer health_timer{io};
    std::atomic<bool> stopping{false};
    std::atomic<std::uint64_t> retries{0}, upstream_failures{0}, partial_answers{0};
    mutable std::mutex health_mutex;
    mutable std::condition_variable health_changed;

    Impl(RouteTable t, HandlerOptions o, Metrics& m) : table(std::move(t)), options(std::move(o)), metrics(m), shards(table.shards.size()) {
        for (std::size_t k = 0; k < table.shards.size(); ++k)
            for (const Endpoint& e : table.shards[k]) {
                auto r = std::make_unique<Replica>();
                r->shard = static_cast<int>(k);
                r->upstream = std::make_shared<Upstream>(io.get_executor(), e);
                shards[k].replicas.push_back(r.get());
                replicas.push_back(std::move(r));
            }
    }

    int shard_count() const { return static_cast<int>(shards.size()); }

    void set_health(Replica& r, bool live, const std::string& problem, bool wrong_shard = false) {
        r.wrong_shard = wrong_shard;
        const bool was = r.live.exchange(live);
        {
            std::lock_guard lock(r.mutex);
            r.problem = problem;
        }
        if (was != live) {
            if (live) spdlog::info("replica {} of shard {}/{} is live", r.upstream->endpoint().url(), r.shard, shard_count());
            else spdlog::warn("replica {} of shard {}/{} is out: {}", r.upstream->endpoint().url(), r.shard, shard_count(), problem);
            if (!live) r.upstream->drop_idle();
        }
        {
            std::lock_guard lock(health_mutex);
        }
        health_changed.notify_all();
    }

    // The shard a replica must report on /readyz: "k/N", or none for a router over one shard.
    std::string expected_shard(const Replica& r) const {
        return shard_count() == 1 ? std::string() : std::to_string(r.shard) + "/" + std::to_string(shard_count());
    }

    void check_health() {
        if (stopping) return;
        auto request = std::make_shared<Request>(http::verb::get, "/readyz", 11);
        request->set(http::field::host, "neardup");
        request->keep_alive(true);
        const auto deadline = Clock::now() + std::min(table.try_timeout, std::max(table.health_interval, std::chrono::milliseconds(1000)));
        for (auto& owned : replicas) {
            Replica* r = owned.get();
            r->upstream->send(request, deadline, [self = shared_from_this(), r](Upstream::Outcome o) {
                if (o.error) return self->set_health(*r, false, "/readyz: " + o.error.message());
                const Response& res = o.response;
                if (res.result() != http::status::ok)
                    return self->set_health(*r, false, "/readyz answered " + std::to_string(res.result_int()));
                const auto body = json::parse(res.body(), nullptr, false);
                const std::string reported = body.is_object() && body.contains("shard") && body["shard"].is_string()
                                                 ? body["shard"].get<std::string>() : std::string();
                const std::string want = self->expected_shard(*r);
                if (reported != want && !(want.empty() && reported == "0/1"))
                    return self->set_health(*r, false, "holds shard '" + (reported.empty() ? std::string("all") : reported) +
                                                           "', not " + (want.empty() ? std::string("all keys") : want) + " as the route file says",
                                            true);
                self->set_health(*r, true, "");
            });
        }
        health_timer.expires_after(table.health_interval);
        health_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) self->check_health();
        });
    }

    // Replicas of a shard in the order to try them: the live ones round-robin, then the others (their health
    // may be stale: a replica back up is found by the request before the next health check). Never one that
    // holds another shard: its answer would stand for this shard's.
    std::vector<Replica*> candidates(int k) {
        Shard& s = shards[static_cast<std::size_t>(k)];
        const std::size_t n = s.replicas.size();
        const unsigned start = s.next.fetch_add(1);
        std::vector<Replica*> live, out;
        for (std::size_t i = 0; i < n; ++i) {
            Replica* r = s.replicas[(start + i) % n];
            if (r->wrong_shard) continue;
            (r->live ? live : out).push_back(r);
        }
        live.insert(live.end(), out.begin(), out.end());
        return live;
    }

    // Asks shard k, trying its replicas in turn until one answers (any status below 500) or the deadline.
    void ask(int k, std::shared_ptr<const Request> request, Clock::time_point deadline, std::function<void(ShardAnswer)> done) {
        attempt(k, candidates(k), 0, std::move(request), deadline, std::move(done), "");
    }

    void attempt(int k, std::vector<Replica*> order, std::size_t i, std::shared_ptr<const Request> request, Clock::time_point deadline,
                 std::function<void(ShardAnswer)> done, std::string failures) {
        const auto now = Clock::now();
        if (i >= order.size() || now >= deadline) {
            if (order.empty()) failures = "no replica that holds this shard (see the router's log)";
            else if (i < order.size()) failures += (failures.empty() ? "" : "; ") + std::string("deadline of ") + std::to_string(table.deadline.count()) + " ms reached";
            return done({std::nullopt, std::move(failures)});
        }
        if (i > 0) retries.fetch_add(1);
        Replica* r = order[i];
        const auto try_deadline = std::min(deadline, now + table.try_timeout);
        r->upstream->send(request, try_deadline,
                          [self = shared_from_this(), k, order = std::move(order), i, request, deadline, done = std::move(done),
                           failures = std::move(failures), r](Upstream::Outcome o) mutable {
                              const int status = o.error ? 0 : o.response.result_int();
                              // An answer, whatever it says, unless the replica could not serve it just now: a 500 or an
                              // answer too large would be the same on the next replica.
                              if (!o.error && status != 502 && status != 503 && status != 504) return done({std::move(o.response), {}});
                              const bool too_large = o.error == http::error::body_limit;
                              const std::string why = o.error ? (o.error == boost::beast::error::timeout ? std::string("no answer in time")
                                                                 : too_large ? "its answer is over " + std::to_string(Upstream::kMaxResponseBytes >> 20) + " MiB"
                                                                             : o.error.message())
                                                              : "answered " + std::to_string(status);
                              failures += (failures.empty() ? "" : "; ") + r->upstream->endpoint().url() + ": " + why;
                              self->upstream_failures.fetch_add(1);
                              r->failures.fetch_add(1);
                              // Out until its health check says otherwise: a replica that could not be reached or did not
                              // answer in time. A 502-504 is a replica loading or at capacity, and its health check says which.
                              if (o.error && !too_large) self->set_health(*r, false, why);
                              // A write that may have reached the replica is not sent to another: it may have been applied.
                              const bool write = is_write(request->method());
                              if (too_large || (write && o.maybe_sent && o.error)) {
                                  if (write && !too_large) failures += " (a write that may have been applied is not retried: GET the key to see)";
                                  return done({std::nullopt, std::move(failures)});
                              }
                              self->attempt(k, std::move(order), i + 1, std::move(request), deadline, std::move(done), std::move(failures));
                          });
    }

    // Asks every shard at once; `done` gets their answers, in shard order, once all are in.
    void fan_out(std::shared_ptr<const Request> request, std::function<void(std::vector<ShardAnswer>)> done) {
        struct Gather {
            std::mutex mutex;
            std::vector<ShardAnswer> answers;
            int pending = 0;
            std::function<void(std::vector<ShardAnswer>)> done;
        };
        auto gather = std::make_shared<Gather>();
        gather->answers.resize(shards.size());
        gather->pending = shard_count();
        gather->done = std::move(done);
        const auto deadline = Clock::now() + table.deadline;
        for (int k = 0; k < shard_count(); ++k)
            ask(k, request, deadline, [gather, k](ShardAnswer a) {
                std::unique_lock lock(gather->mutex);
                gather->answers[static_cast<std::size_t>(k)] = std::move(a);
                if (--gather->pending > 0) return;
                lock.unlock();
                gather->done(std::move(gather->answers));
            });
    }

    // The request as sent on to a replica: method, target, body, and the fields the replica judges it by.
    static std::shared_ptr<Request> forwardable(const Request& in) {
        auto out = std::make_shared<Request>(in.method(), in.target(), 11);
        out->set(http::field::host, "neardup");  // one copy for every replica: they do not read Host
        for (const auto f : {http::field::content_type, http::field::authorization})
            if (const auto v = in[f]; !v.empty()) out->set(f, v);
        out->body() = in.body();
        out->keep_alive(true);
        out->prepare_payload();
        return out;
    }

    // The common frame of a merged answer: which shards are missing. Throws 503 when none answered.
    std::vector<int> missing(const std::vector<ShardAnswer>& answers, std::string_view what) {
        std::vector<int> out;
        std::string why;
        for (std::size_t k = 0; k < answers.size(); ++k)
            if (!answers[k].response) {
                out.push_back(static_cast<int>(k));
                why += (why.empty() ? "" : " | ") + std::string("shard ") + std::to_string(k) + ": " + answers[k].failure;
            }
        if (!out.empty()) spdlog::warn("{}: no answer from shard(s) {}: {}", what, shard_list(out), why);
        if (out.size() == answers.size())
            throw ApiError(http::status::service_unavailable, "unavailable",
                           "no replica of any shard answered within " + std::to_string(table.deadline.count()) + " ms (" + why + ")");
        if (!out.empty()) partial_answers.fetch_add(1);
        return out;
    }

    // An error a replica answered with (4xx: the request itself is wrong), passed on as is.
    static const Response* first_refusal(const std::vector<ShardAnswer>& answers, http::status ok) {
        for (const auto& a : answers)
            if (a.response && a.response->result() != ok) return &*a.response;
        return nullptr;
    }

    static void add_partial(json& body, const std::vector<int>& missing_shards) {
        body["partial"] = !missing_shards.empty();
        if (!missing_shards.empty()) body["missing_shards"] = missing_shards;
    }

    // Parses a replica's JSON answer; a replica that answers 200 with something else is a broken replica.
    static json body_of(const Response& r) {
        json body = json::parse(r.body(), nullptr, false);
        if (body.is_discarded() || !body.is_object()) throw std::runtime_error("a replica answered 200 with a body that is not a JSON object");
        return body;
    }

    Response merge_search(const Request& request, const RequestTarget& target, const std::vector<ShardAnswer>& answers, Clock::time_point start) {
        const auto missing_shards = missing(answers, "search");
        if (const Response* refused = first_refusal(answers, http::status::ok)) return pass_on(*refused, request.version(), request.keep_alive());
        json matches = json::array();
        for (const auto& a : answers) {
            if (!a.response) continue;
            json b = body_of(*a.response);
            for (auto& m : b["matches"]) matches.push_back(std::move(m));
        }
        std::stable_sort(matches.begin(), matches.end(), [](const json& a, const json& b) {
            const double sa = a.value("score", 0.0), sb = b.value("score", 0.0);
            if (sa != sb) return sa > sb;
            return a.value("key", std::string()) < b.value("key", std::string());
        });
        const int top = int_param(target, "top", store::SearchOptions{}.top);
        if (top > 0 && matches.size() > static_cast<std::size_t>(top)) matches.erase(matches.begin() + top, matches.end());
        json body = {{"matches", std::move(matches)}, {"took_ms", rounded_ms(start)}};
        add_partial(body, missing_shards);
        return json_response(http::status::ok, body, request.version(), request.keep_alive());
    }

    Response merge_search_pdq(const Request& request, const RequestTarget& target, const std::vector<ShardAnswer>& answers, Clock::time_point start) {
        const auto missing_shards = missing(answers, "PDQ search");
        if (const Response* refused = first_refusal(answers, http::status::ok)) return pass_on(*refused, request.version(), request.keep_alive());
        json results;
        for (const auto& a : answers) {
            if (!a.response) continue;
            json shard_results = body_of(*a.response)["results"];
            if (results.is_null()) {
                results = std::move(shard_results);
                continue;
            }
            if (!shard_results.is_array() || shard_results.size() != results.size()) throw std::runtime_error("replicas answered different numbers of PDQ results");
            for (std::size_t i = 0; i < results.size(); ++i)
                for (auto& m : shard_results[i]["matches"]) results[i]["matches"].push_back(std::move(m));
        }
        const int top = int_param(target, "top", store::PdqSearchOptions{}.top);
        for (auto& r : results) {
            auto& m = r["matches"];
            std::stable_sort(m.begin(), m.end(), [](const json& a, const json& b) {
                const int da = a.value("distance", 256), db = b.value("distance", 256);
                if (da != db) return da < db;
                return a.value("key", std::string()) < b.value("key", std::string());
            });
            if (top > 0 && m.size() > static_cast<std::size_t>(top)) m.erase(m.begin() + top, m.end());
        }
        json body = {{"results", std::move(results)}, {"took_ms", rounded_ms(start)}};
        add_partial(body, missing_shards);
        return json_response(http::status::ok, body, request.version(), request.keep_alive());
    }

    // Each shard lists its next keys after the cursor and, when it has more, its own cursor (which a shard may
    // give on an empty page, after scanning far for a rare label). Every key up to the smallest shard cursor C
    // has been seen: the page is the first `limit` of those, in byte order, and the next cursor is the last of
    // them when the page was cut, else C (none when no shard has more).
    Response merge_list(const Request& request, const RequestTarget& target, const std::vector<ShardAnswer>& answers) {
        const auto missing_shards = missing(answers, "listing");
        if (const Response* refused = first_refusal(answers, http::status::ok)) return pass_on(*refused, request.version(), request.keep_alive());
        json images = json::array();
        std::optional<std::string> seen_upto;  // C
        for (const auto& a : answers) {
            if (!a.response) continue;
            json b = body_of(*a.response);
            if (b["next"].is_string() && (!seen_upto || b["next"].get<std::string>() < *seen_upto)) seen_upto = b["next"].get<std::string>();
            for (auto& e : b["images"]) images.push_back(std::move(e));
        }
        // Every shard lists the shared catalog's keys: one entry per key.
        const auto key_of = [](const json& e) { return e.value("key", std::string()); };
        std::stable_sort(images.begin(), images.end(), [&](const json& a, const json& b) { return key_of(a) < key_of(b); });
        images.erase(std::unique(images.begin(), images.end(), [&](const json& a, const json& b) { return key_of(a) == key_of(b); }), images.end());
        if (seen_upto)
            images.erase(std::remove_if(images.begin(), images.end(), [&](const json& e) { return key_of(e) > *seen_upto; }), images.end());
        const std::size_t limit = static_cast<std::size_t>(std::max(1, int_param(target, "limit", kDefaultListLimit)));
        json next = seen_upto ? json(*seen_upto) : json(nullptr);
        if (images.size() > limit) {
            images.erase(images.begin() + static_cast<std::ptrdiff_t>(limit), images.end());
            next = images.back()["key"];
        }
        json body = {{"images", std::move(images)}, {"next", std::move(next)}};
        add_partial(body, missing_shards);
        return json_response(http::status::ok, body, request.version(), request.keep_alive());
    }

    Response merge_stats(const Request& request, const std::vector<ShardAnswer>& answers) {
        const auto missing_shards = missing(answers, "stats");
        if (const Response* refused = first_refusal(answers, http::status::ok)) return pass_on(*refused, request.version(), request.keep_alive());
        // Index counts add up over shards; `active` counts the catalog the shards share, so every shard gives the
        // same figure; the rest (generation, snapshot flags) is per shard, under "shards".
        static constexpr const char* kSummed[] = {"inactive", "pdq_entries", "descriptor_entries", "embedding_entries", "segments", "merges", "followed"};
        json index = {{"active", 0}};
        for (const char* name : kSummed) index[name] = 0;
        json per_shard = json::array();
        for (std::size_t k = 0; k < answers.size(); ++k) {
            if (!answers[k].response) continue;
            json b = body_of(*answers[k].response);
            for (const char* name : kSummed) index[name] = index[name].get<std::uint64_t>() + b["index"].value(name, std::uint64_t{0});
            index["active"] = std::max(index["active"].get<std::uint64_t>(), b["index"].value("active", std::uint64_t{0}));
            per_shard.push_back({{"shard", std::to_string(k) + "/" + std::to_string(answers.size())}, {"index", std::move(b["index"])}});
        }
        json body = {{"index", std::move(index)}, {"shards", std::move(per_shard)}, {"work_queue_depth", metrics.queue_depth.load()},
                     {"in_flight", metrics.in_flight.load()}};
        add_partial(body, missing_shards);
        return json_response(http::status::ok, body, request.version(), request.keep_alive());
    }
};

Router::Router(RouteTable table, HandlerOptions options, Metrics& metrics)
    : impl_(std::make_shared<Impl>(std::move(table), std::move(options), metrics)) {
    if (impl_->options.token && impl_->options.token->empty()) throw std::invalid_argument("HandlerOptions::token is empty");
    // One thread: the replicas' streams and the health timer need no strand, and merging answers is light.
    impl_->threads.emplace_back([impl = impl_.get()] {
        for (;;) {
            try {
                impl->io.run();
                return;
            } catch (const std::exception& e) {
                spdlog::error("router I/O thread: {}", e.what());
            }
        }
    });
    net::post(impl_->io, [impl = impl_] { impl->check_health(); });
}

Router::~Router() {
    impl_->stopping = true;
    net::post(impl_->io, [impl = impl_] {
        boost::system::error_code ignored;
        impl->health_timer.cancel();
        for (auto& r : impl->replicas) r->upstream->drop_idle();
    });
    impl_->work.reset();
    // Exchanges in flight end at their deadlines; the health check stops rescheduling itself.
    for (auto& t : impl_->threads) t.join();
}

Route Router::route(const RequestHeader& header) const {
    const RouteId id = match_target(sv(header.target())).id;
    return {pattern(id), false, uses_index(id)};
}

std::size_t Router::body_limit() const { return impl_->options.body_limit; }

std::optional<Response> Router::precheck(const RequestHeader& header) const {
    try {
        check_request(header, impl_->options);
        return std::nullopt;
    } catch (const ApiError& e) {
        return refusal(e, header, false);
    }
}

Response Router::handle(const Request& request) const {
    std::mutex mutex;
    std::condition_variable cv;
    std::optional<Response> answer;
    handle_async(request, [&](Response res) {
        std::lock_guard lock(mutex);
        answer = std::move(res);
        cv.notify_all();
    });
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return answer.has_value(); });
    return std::move(*answer);
}

void Router::handle_async(Request request, std::function<void(Response)> done) const {
    Impl& impl = *impl_;
    const auto start = Clock::now();
    const unsigned version = request.version();
    const bool keep = request.keep_alive();
    const auto shared_request = std::make_shared<Request>(std::move(request));
    const Request& req = *shared_request;
    // Every way out answers once, errors included.
    auto answer = [&done, &req](const std::function<Response()>& build) { done(guarded_answer(req, build)); };
    RequestTarget target;
    Matched m;
    try {
        target = check_request(req, impl.options);
        check_body(req, impl.options);
        m = match_target(sv(req.target()));
    } catch (const ApiError& e) {
        return done(refusal(e, req, keep));
    }

    // Runs the merge on the I/O thread that completed the last shard, answering once.
    auto merged = [impl = impl_, shared_request, target, done, start](auto merge) {
        return [=](std::vector<ShardAnswer> answers) {
            done(guarded_answer(*shared_request, [&] { return merge(*impl, *shared_request, target, answers, start); }));
        };
    };
    switch (m.id) {
        case RouteId::healthz:
            return answer([&] { return json_response(http::status::ok, {{"status", "ok"}}, version, keep); });
        case RouteId::readyz:
            return answer([&] {
                std::vector<int> down;
                for (int k = 0; k < impl.shard_count(); ++k) {
                    const auto& rs = impl.shards[static_cast<std::size_t>(k)].replicas;
                    if (std::none_of(rs.begin(), rs.end(), [](const Impl::Replica* r) { return r->live.load(); })) down.push_back(k);
                }
                if (!down.empty())
                    throw ApiError(http::status::service_unavailable, "not_ready", "no live replica of shard(s) " + shard_list(down));
                return json_response(http::status::ok, {{"status", "ready"}, {"shards", impl.shard_count()}}, version, keep);
            });
        case RouteId::metrics:
            return answer([&] {
                std::size_t live = 0;
                int shards_down = 0;
                for (const auto& s : impl.shards) {
                    const auto n = std::count_if(s.replicas.begin(), s.replicas.end(), [](const Impl::Replica* r) { return r->live.load(); });
                    live += static_cast<std::size_t>(n);
                    shards_down += n == 0;
                }
                std::vector<Gauge> gauges = {
                    {"neardup_ready", "1 once every shard has a live replica.", shards_down == 0 ? 1.0 : 0.0},
                    {"neardup_http_requests_in_flight", "Requests being handled.", double(impl.metrics.in_flight.load())},
                    {"neardup_work_queue_depth", "Requests being answered from the replicas.", double(impl.metrics.queue_depth.load())},
                    {"neardup_router_shards", "Shards in the route file.", double(impl.shard_count())},
                    {"neardup_router_shards_unavailable", "Shards without a live replica.", double(shards_down)},
                    {"neardup_router_replicas", "Replicas in the route file.", double(impl.replicas.size())},
                    {"neardup_router_replicas_live", "Replicas whose /readyz answers for their shard.", double(live)},
                    {"neardup_router_retries_total", "Tries on a shard's next replica after one failed.", double(impl.retries.load()), true},
                    {"neardup_router_upstream_failures_total", "Tries on a replica that failed (refused, reset, timed out, 5xx).",
                     double(impl.upstream_failures.load()), true},
                    {"neardup_router_partial_answers_total", "Answers that named missing shards.", double(impl.partial_answers.load()), true}};
                if (server_gauges)
                    for (auto& g : server_gauges()) gauges.push_back(std::move(g));
                return body_response(http::status::ok, "text/plain; version=0.0.4; charset=utf-8", impl.metrics.render(gauges), version, keep);
            });
        case RouteId::openapi:
            return answer([&] { return body_response(http::status::ok, "application/json", std::string(openapi_document()), version, keep); });
        case RouteId::ui_root:
        case RouteId::ui:
            return answer([&] { return ui_response(req, target, m.id, m.asset); });
        case RouteId::search:
            return impl.fan_out(Impl::forwardable(req), merged([](Impl& i, const Request& r, const RequestTarget& t, const std::vector<ShardAnswer>& a, Clock::time_point s) {
                return i.merge_search(r, t, a, s);
            }));
        case RouteId::search_pdq:
            return impl.fan_out(Impl::forwardable(req), merged([](Impl& i, const Request& r, const RequestTarget& t, const std::vector<ShardAnswer>& a, Clock::time_point s) {
                return i.merge_search_pdq(r, t, a, s);
            }));
        case RouteId::images:
            return impl.fan_out(Impl::forwardable(req), merged([](Impl& i, const Request& r, const RequestTarget& t, const std::vector<ShardAnswer>& a, Clock::time_point) {
                return i.merge_list(r, t, a);
            }));
        case RouteId::stats:
            return impl.fan_out(Impl::forwardable(req), merged([](Impl& i, const Request& r, const RequestTarget&, const std::vector<ShardAnswer>& a, Clock::time_point) {
                return i.merge_stats(r, a);
            }));
        case RouteId::image:
        case RouteId::thumbnail: {
            const int k = static_cast<int>(store::key_hash32(m.key) % static_cast<std::uint32_t>(impl.shard_count()));
            return impl.ask(k, Impl::forwardable(req), start + impl.table.deadline, [impl = impl_, shared_request, done, version, keep, k](ShardAnswer a) {
                done(guarded_answer(*shared_request, [&] {
                    if (a.response) return pass_on(*a.response, version, keep);
                    Response res = error_response(ApiError(http::status::service_unavailable, "unavailable",
                                                           "no replica of shard " + std::to_string(k) + "/" + std::to_string(impl->shard_count()) +
                                                               ", which owns this key, answered: " + a.failure),
                                                  version, keep);
                    res.set(http::field::retry_after, "1");
                    return res;
                }));
            });
        }
        case RouteId::unmatched: break;
    }
    answer([&]() -> Response { throw ApiError(http::status::not_found, "not_found", "no route " + printable(target.path)); });
}

bool Router::wait_ready(std::chrono::milliseconds timeout) const {
    const auto all_live = [this] {
        return std::all_of(impl_->shards.begin(), impl_->shards.end(), [](const Impl::Shard& s) {
            return std::any_of(s.replicas.begin(), s.replicas.end(), [](const Impl::Replica* r) { return r->live.load(); });
        });
    };
    std::unique_lock lock(impl_->health_mutex);
    return impl_->health_changed.wait_for(lock, timeout, all_live);
}

std::vector<ReplicaState> Router::replicas() const {
    std::vector<ReplicaState> out;
    for (const auto& r : impl_->replicas) {
        std::lock_guard lock(r->mutex);
        out.push_back({r->shard, r->upstream->endpoint().url(), r->live.load(), r->failures.load(), r->live ? std::string() : r->problem});
    }
    return out;
}

RouterCounts Router::counts() const { return {impl_->retries.load(), impl_->upstream_failures.load(), impl_->partial_answers.load()}; }

}  // namespace neardup::server
