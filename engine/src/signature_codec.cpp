#include "neardup/engine/signature_codec.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>

namespace neardup {
namespace {

constexpr char kMagic[4] = {'N', 'D', 'S', 'G'};
constexpr std::uint8_t kFlagDihedral = 1;
constexpr std::uint8_t kFlagEmbedding = 2;  // after the descriptors: u16 dimension, then that many f32
constexpr std::size_t kMaxKeypoints = 65535;

class Writer {
public:
    void bytes(const void* p, std::size_t n) {
        const auto* b = static_cast<const std::uint8_t*>(p);
        out_.insert(out_.end(), b, b + n);
    }
    template <class T>
    void le(T v) {  // little-endian integer
        for (std::size_t i = 0; i < sizeof(T); ++i) out_.push_back(static_cast<std::uint8_t>(std::uint64_t(v) >> (8 * i)));
    }
    void hash(const Hash256& h) { for (auto w : h.words) le(w); }
    void f32(float v) { le(std::bit_cast<std::uint32_t>(v)); }
    std::vector<std::uint8_t> take() { return std::move(out_); }

private:
    std::vector<std::uint8_t> out_;
};

class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> b) : b_(b) {}
    bool has(std::size_t n) const { return b_.size() - pos_ >= n; }
    std::size_t remaining() const { return b_.size() - pos_; }
    template <class T>
    T le() {
        T v = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i) v |= T(std::uint64_t(b_[pos_ + i]) << (8 * i));
        pos_ += sizeof(T);
        return v;
    }
    Hash256 hash() {
        Hash256 h;
        for (auto& w : h.words) w = le<std::uint64_t>();
        return h;
    }
    float f32() { return std::bit_cast<float>(le<std::uint32_t>()); }
    const std::uint8_t* take(std::size_t n) {
        const auto* p = b_.data() + pos_;
        pos_ += n;
        return p;
    }

private:
    std::span<const std::uint8_t> b_;
    std::size_t pos_ = 0;
};

Error corrupt(const std::string& what) { return make_error(ErrorCode::corrupt_signature, "corrupt signature: " + what); }

// Fixed part after magic+version: flags, width, height, pdq, quality, phash, ahash, block mean,
// kind, frame w/h, keypoint count.
constexpr std::size_t kFixedBytes = 1 + 4 + 4 + 32 + 1 + 8 + 8 + 32 + 1 + 2 + 2 + 2;

}  // namespace

std::vector<std::uint8_t> serialize(const Signature& s) {
    if (!s.pdq_dihedral.empty() && s.pdq_dihedral.size() != kDihedralCount)
        throw std::invalid_argument("serialize: pdq_dihedral must be empty or hold 8 hashes");
    if (s.features.size() > kMaxKeypoints) throw std::invalid_argument("serialize: more than 65535 keypoints");
    const std::size_t row = descriptor_bytes(s.features.kind);
    if (s.features.descriptors.size() != s.features.size() * row)
        throw std::invalid_argument("serialize: descriptor bytes do not match the keypoint count");
    if (s.embedding.size() > kMaxEmbeddingValues) throw std::invalid_argument("serialize: an embedding of more than 65535 values");
    if (!std::all_of(s.embedding.begin(), s.embedding.end(), [](float v) { return std::isfinite(v); }))
        throw std::invalid_argument("serialize: an embedding value is not finite");
    Writer w;
    w.bytes(kMagic, 4);
    w.le(kSignatureFormatVersion);
    w.le(static_cast<std::uint8_t>((s.pdq_dihedral.empty() ? 0 : kFlagDihedral) | (s.embedding.empty() ? 0 : kFlagEmbedding)));
    w.le(s.width);
    w.le(s.height);
    w.hash(s.pdq.hash);
    w.le(static_cast<std::uint8_t>(s.pdq.quality));
    w.le(s.phash.bits);
    w.le(s.average_hash.bits);
    w.hash(s.block_mean);
    w.le(static_cast<std::uint8_t>(s.features.kind));
    w.le(s.features.frame_width);
    w.le(s.features.frame_height);
    w.le(static_cast<std::uint16_t>(s.features.size()));
    for (const auto& h : s.pdq_dihedral) w.hash(h);
    for (const auto& k : s.features.keypoints) {
        w.le(k.x);
        w.le(k.y);
        w.le(k.angle);
        w.le(k.size);
    }
    w.bytes(s.features.descriptors.data(), s.features.descriptors.size());
    if (!s.embedding.empty()) {
        w.le(static_cast<std::uint16_t>(s.embedding.size()));
        for (float v : s.embedding) w.f32(v);
    }
    return w.take();
}

Result<Signature> deserialize_signature(std::span<const std::uint8_t> bytes) {
    Reader r(bytes);
    if (!r.has(5)) return corrupt("only " + std::to_string(bytes.size()) + " bytes");
    if (std::memcmp(r.take(4), kMagic, 4) != 0) return corrupt("bad magic (not a neardup signature)");
    const auto version = r.le<std::uint8_t>();
    if (version != kSignatureFormatVersion)
        return make_error(ErrorCode::unsupported_version, "signature format version " + std::to_string(version) +
                                                              " is not supported (this build reads version " +
                                                              std::to_string(kSignatureFormatVersion) + ")");
    if (!r.has(kFixedBytes)) return corrupt("header cut short");
    Signature s;
    const auto flags = r.le<std::uint8_t>();
    if (flags & ~(kFlagDihedral | kFlagEmbedding)) return corrupt("unknown flags");
    s.width = r.le<std::uint32_t>();
    s.height = r.le<std::uint32_t>();
    s.pdq.hash = r.hash();
    s.pdq.quality = r.le<std::uint8_t>();
    if (s.pdq.quality > 100) return corrupt("PDQ quality over 100");
    s.phash.bits = r.le<std::uint64_t>();
    s.average_hash.bits = r.le<std::uint64_t>();
    s.block_mean = r.hash();
    const auto kind = r.le<std::uint8_t>();
    if (kind < 1 || kind > 3) return corrupt("unknown feature kind " + std::to_string(kind));
    s.features.kind = static_cast<FeatureKind>(kind);
    s.features.frame_width = r.le<std::uint16_t>();
    s.features.frame_height = r.le<std::uint16_t>();
    const std::size_t count = r.le<std::uint16_t>();
    const std::size_t row = descriptor_bytes(s.features.kind);
    const std::size_t dihedral_bytes = (flags & kFlagDihedral) ? kDihedralCount * 32 : 0;
    const std::size_t features_bytes = dihedral_bytes + count * (6 + row);
    std::size_t expected = features_bytes;
    if (flags & kFlagEmbedding) {
        if (r.remaining() < features_bytes + 2) return corrupt("embedding size cut short");
        // The dimension sits after the features; read it without moving on.
        Reader peek(bytes.subspan(bytes.size() - r.remaining() + features_bytes, 2));
        const std::size_t dimension = peek.le<std::uint16_t>();
        if (dimension == 0) return corrupt("an embedding of 0 values");
        expected += 2 + dimension * 4;
    }
    if (r.remaining() != expected)
        return corrupt("expected " + std::to_string(expected) + " bytes after the header, found " + std::to_string(r.remaining()));
    if (dihedral_bytes) {
        s.pdq_dihedral.resize(kDihedralCount);
        for (auto& h : s.pdq_dihedral) h = r.hash();
    }
    s.features.keypoints.resize(count);
    for (auto& k : s.features.keypoints) {
        k.x = r.le<std::uint16_t>();
        k.y = r.le<std::uint16_t>();
        k.angle = r.le<std::uint8_t>();
        k.size = r.le<std::uint8_t>();
    }
    const auto* d = r.take(count * row);
    s.features.descriptors.assign(d, d + count * row);
    if (flags & kFlagEmbedding) {
        s.embedding.resize(r.le<std::uint16_t>());
        for (float& v : s.embedding) {
            v = r.f32();
            if (!std::isfinite(v)) return corrupt("an embedding value is not finite");
        }
    }
    return s;
}

}  // namespace neardup
