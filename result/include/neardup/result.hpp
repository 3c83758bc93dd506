// Either a value or a typed error: a stand-in for C++23 std::expected, shared by every library (the engine's
// Result<T> holds an Error, the benchmark metrics' BenchResult<T> a BenchError). E needs a `message`.
#pragma once

#include <stdexcept>
#include <utility>
#include <variant>

namespace neardup {

// Thrown by BasicResult::value() when the result holds an error.
template <class E>
class ResultErrorOf : public std::runtime_error {
public:
    explicit ResultErrorOf(E e) : std::runtime_error(e.message), error_(std::move(e)) {}
    const E& error() const noexcept { return error_; }

private:
    E error_;
};

template <class T, class E>
class BasicResult {
public:
    BasicResult(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
    BasicResult(E error) : state_(std::move(error)) {}  // NOLINT: implicit by design

    bool ok() const noexcept { return std::holds_alternative<T>(state_); }
    explicit operator bool() const noexcept { return ok(); }

    const T& value() const& {
        if (!ok()) throw ResultErrorOf<E>(std::get<E>(state_));
        return std::get<T>(state_);
    }
    // By value, not T&&: `for (auto& x : f().value())` must not iterate a destroyed temporary.
    T value() && {
        if (!ok()) throw ResultErrorOf<E>(std::get<E>(state_));
        return std::get<T>(std::move(state_));
    }
    const E& error() const& {
        if (ok()) throw std::logic_error("Result::error() called on a value");
        return std::get<E>(state_);
    }

private:
    std::variant<T, E> state_;
};

}  // namespace neardup
