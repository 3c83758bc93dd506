// Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/: tiny images of every format the
// engine decodes, signatures computed from them, request targets, multipart forms, HTTP requests and
// snapshot manifests. Run once (`build/fuzz/fuzz/fuzz_make_corpus fuzz/corpus`); its output is committed.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "neardup/engine/signature.hpp"
#include "neardup/engine/signature_codec.hpp"
#include "neardup/store/snapshot_manifest.hpp"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

fs::path g_root;

void write(const std::string& target, const std::string& name, const void* data, std::size_t size) {
    const fs::path dir = g_root / target;
    fs::create_directories(dir);
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
}
void write(const std::string& target, const std::string& name, const std::string& text) { write(target, name, text.data(), text.size()); }
void write(const std::string& target, const std::string& name, const Bytes& b) { write(target, name, b.data(), b.size()); }

// A small picture with edges and texture, so that the signatures carry keypoints.
cv::Mat picture(int width, int height, int seed) {
    cv::Mat image(height, width, CV_8UC3);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            image.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<std::uint8_t>(x * 255 / width), static_cast<std::uint8_t>(y * 255 / height),
                                                  static_cast<std::uint8_t>(((x / 6 + y / 6 + seed) & 1) * 180));
    cv::circle(image, {width / 3, height / 2}, height / 4, cv::Scalar(20, 220, 40 * seed), -1);
    cv::rectangle(image, {width / 2, height / 5}, {width - 6, height - 8}, cv::Scalar(250, 30, 90), 2);
    cv::putText(image, "N" + std::to_string(seed), {width / 2 + 4, height / 2 + 6}, cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(0, 0, 0), 1);
    return image;
}

Bytes encode(const std::string& ext, const cv::Mat& image, const std::vector<int>& params = {}) {
    Bytes out;
    if (!cv::imencode(ext, image, out, params)) throw std::runtime_error("cannot encode " + ext);
    return out;
}

// A JPEG with an EXIF APP1 segment carrying `orientation` (OpenCV writes none): little-endian TIFF header,
// one IFD entry 0x0112 SHORT 1.
Bytes jpeg_with_orientation(const cv::Mat& image, std::uint8_t orientation) {
    Bytes jpeg = encode(".jpg", image, {cv::IMWRITE_JPEG_QUALITY, 70});
    const Bytes app1 = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,            // marker, length 34, "Exif\0\0"
                        'I', 'I', 42, 0, 8, 0, 0, 0,                                   // TIFF header, IFD at 8
                        1, 0,                                                          // one entry
                        0x12, 0x01, 3, 0, 1, 0, 0, 0, orientation, 0, 0, 0,            // orientation, SHORT, 1
                        0, 0, 0, 0};                                                   // no next IFD
    jpeg.insert(jpeg.begin() + 2, app1.begin(), app1.end());
    return jpeg;
}

void images() {
    const cv::Mat small = picture(48, 40, 1);
    const cv::Mat wide = picture(96, 64, 2);
    cv::Mat gray;
    cv::cvtColor(wide, gray, cv::COLOR_BGR2GRAY);
    cv::Mat bgra;
    cv::cvtColor(small, bgra, cv::COLOR_BGR2BGRA);
    for (int y = 0; y < bgra.rows; ++y) bgra.at<cv::Vec4b>(y, y % bgra.cols)[3] = 0;
    cv::Mat deep;
    wide.convertTo(deep, CV_16UC3, 257);

    write("image", "baseline.jpg", encode(".jpg", wide, {cv::IMWRITE_JPEG_QUALITY, 60}));
    write("image", "progressive.jpg", encode(".jpg", wide, {cv::IMWRITE_JPEG_QUALITY, 60, cv::IMWRITE_JPEG_PROGRESSIVE, 1}));
    write("image", "gray.jpg", encode(".jpg", gray, {cv::IMWRITE_JPEG_QUALITY, 50}));
    write("image", "exif-rotated.jpg", jpeg_with_orientation(small, 6));
    // 34x33 decodes to 17x17 at 1/2, where the aspect no longer tells whether EXIF turned it (a smoke-run find).
    const cv::Mat nearly_square = cv::Mat(wide, cv::Rect(0, 0, 34, 33)).clone();
    write("image", "nearly-square.jpg", encode(".jpg", nearly_square, {cv::IMWRITE_JPEG_QUALITY, 60}));
    write("image", "nearly-square-exif-rotated.jpg", jpeg_with_orientation(nearly_square, 6));
    write("image", "rgb.png", encode(".png", small));
    write("image", "rgba.png", encode(".png", bgra));
    write("image", "gray.png", encode(".png", gray));
    write("image", "deep.png", encode(".png", deep));
    write("image", "lossy.webp", encode(".webp", small, {cv::IMWRITE_WEBP_QUALITY, 50}));
    write("image", "lossless.webp", encode(".webp", bgra, {cv::IMWRITE_WEBP_QUALITY, 101}));
    write("image", "rgb.bmp", encode(".bmp", small));
    write("image", "gray.bmp", encode(".bmp", cv::Mat(gray, cv::Rect(0, 0, 40, 36)).clone()));
    write("image", "rgb.tiff", encode(".tiff", small));
    write("image", "deep.tiff", encode(".tiff", cv::Mat(deep, cv::Rect(0, 0, 40, 36)).clone()));
    write("image", "rgb.ppm", encode(".ppm", cv::Mat(small, cv::Rect(0, 0, 40, 34)).clone()));
    write("image", "gray.pgm", encode(".pgm", cv::Mat(gray, cv::Rect(0, 0, 40, 34)).clone()));
    write("image", "ascii.pgm", encode(".pgm", cv::Mat(gray, cv::Rect(0, 0, 36, 34)).clone(), {cv::IMWRITE_PXM_BINARY, 0}));
    write("image", "bits.pbm", encode(".pbm", cv::Mat(gray, cv::Rect(0, 0, 48, 40)).clone()));
}

void signatures() {
    neardup::SignatureExtractor orb;
    neardup::SignatureOptions akaze_options;
    akaze_options.features.kind = neardup::FeatureKind::akaze;
    akaze_options.features.max_keypoints = 64;
    neardup::SignatureExtractor akaze(akaze_options);
    const cv::Mat a = picture(320, 240, 3);
    const cv::Mat b = picture(200, 200, 4);

    neardup::Signature reference = orb.compute(a, a.cols, a.rows);
    reference.features.keypoints.resize(std::min<std::size_t>(reference.features.size(), 64));  // < 20 KB each
    reference.features.descriptors.resize(reference.features.size() * neardup::descriptor_bytes(reference.features.kind));
    write("signature", "orb.sig", neardup::serialize(reference));
    neardup::Signature query = orb.compute_query(b, b.cols, b.rows).signature;
    query.features.keypoints.resize(std::min<std::size_t>(query.features.size(), 32));
    query.features.descriptors.resize(query.features.size() * neardup::descriptor_bytes(query.features.kind));
    write("signature", "orb-dihedral.sig", neardup::serialize(query));
    write("signature", "akaze.sig", neardup::serialize(akaze.compute(b, b.cols, b.rows)));
    neardup::Signature empty = reference;
    empty.features.keypoints.clear();
    empty.features.descriptors.clear();
    write("signature", "no-keypoints.sig", neardup::serialize(empty));
    neardup::Signature embedded = reference;  // the embedding section (flag 2) after the descriptors
    embedded.embedding = {0.6f, -0.8f, 0.0f, 0.0f};
    write("signature", "embedding.sig", neardup::serialize(embedded));
}

void request_targets() {
    const std::vector<std::string> targets = {
        "/healthz", "/v1/search?top=5&threshold=0.85&label=brand%3Aacme&label=case:c9",
        "/v1/images/caf%C3%A9%20au+lait?replace=true&label=a:b", "/v1/images/a%2Fb?x&&=y&z=", "/v1/search?top=%41%4a+b",
        "/%", "/v1/images/%zz", "*", "http://example.invalid/v1/search"};
    for (std::size_t i = 0; i < targets.size(); ++i) write("request_target", "t" + std::to_string(i), targets[i]);
}

std::string form(const std::string& boundary, const std::string& content) {
    return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--" + boundary +
           "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" + content +
           "\r\n--" + boundary + "--\r\n";
}

void multipart() {
    write("multipart", "simple", "multipart/form-data; boundary=XyZ\n" + form("XyZ", "\xFF\xD8\xFF\xE0 image bytes"));
    write("multipart", "quoted", "Multipart/Form-Data; charset=utf-8; boundary=\"a b'c\"\n" + form("a b'c", "--a b'c in the content"));
    write("multipart", "no-image", "multipart/form-data;boundary=q\n--q\r\ncontent-disposition: form-data; name=\"other\"\r\n\r\nx\r\n--q--\r\n");
    write("multipart", "preamble", "multipart/form-data; boundary=b\nignored preamble\r\n" + form("b", ""));
    write("multipart", "not-form", "image/png\n\x89PNG");
    write("multipart", "unterminated", "multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc");
}

std::string request(const std::string& start, const std::vector<std::string>& headers, const std::string& body = {}) {
    std::string r = start + "\r\nHost: localhost\r\n";
    for (const auto& h : headers) r += h + "\r\n";
    if (!body.empty()) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    return r + "\r\n" + body;
}

void http_requests() {
    const std::string auth = "Authorization: Bearer fuzz-token-0123456789";
    const Bytes png = encode(".png", picture(48, 40, 5));
    const std::string image(png.begin(), png.end());
    const Bytes jpg = encode(".jpg", picture(64, 48, 6), {cv::IMWRITE_JPEG_QUALITY, 50});
    const std::string jpeg(jpg.begin(), jpg.end());
    write("handler", "healthz", request("GET /healthz HTTP/1.1", {}));
    write("handler", "readyz-http10", request("GET /readyz HTTP/1.0", {"Connection: keep-alive"}));
    write("handler", "metrics", request("GET /metrics HTTP/1.1", {}));
    write("handler", "openapi", request("GET /openapi.json HTTP/1.1", {}));
    write("handler", "stats", request("GET /v1/stats HTTP/1.1", {}));
    write("handler", "search-png", request("POST /v1/search?top=3&threshold=0.5 HTTP/1.1", {"Content-Type: image/png"}, image));
    write("handler", "search-labels", request("POST /v1/search?label=brand:acme HTTP/1.1", {"Content-Type: image/jpeg"}, jpeg));
    write("handler", "search-form", request("POST /v1/search HTTP/1.1", {"Content-Type: multipart/form-data; boundary=XyZ"}, form("XyZ", image)));
    write("handler", "search-chunked", "POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                                       "Transfer-Encoding: chunked\r\n\r\n10\r\n" + image.substr(0, 16) + "\r\n" +
                                       [&] { char n[16]; std::snprintf(n, sizeof n, "%zx", image.size() - 16); return std::string(n); }() +
                                       "\r\n" + image.substr(16) + "\r\n0\r\n\r\n");
    write("handler", "put", request("PUT /v1/images/seed-1?label=brand:acme&replace=true HTTP/1.1", {auth, "Content-Type: image/jpeg"}, jpeg));
    write("handler", "put-no-token", request("PUT /v1/images/k HTTP/1.1", {"Content-Type: image/png"}, image));
    write("handler", "put-bad-token", request("PUT /v1/images/k HTTP/1.1", {"Authorization: Bearer wrong", "Content-Type: image/png"}, image));
    write("handler", "get", request("GET /v1/images/gradient HTTP/1.1", {}));
    write("handler", "delete", request("DELETE /v1/images/checks HTTP/1.1", {auth}));
    write("handler", "search-pdq", request("POST /v1/search/pdq?max_distance=31&top=3 HTTP/1.1", {"Content-Type: application/json"},
                                           "{\"hashes\": [\"" + std::string(64, 'a') + "\", \"0123\"]}"));
    write("handler", "list", request("GET /v1/images?prefix=d&label=brand:acme&limit=2&after=a HTTP/1.1", {}));
    write("handler", "thumbnail", request("GET /v1/images/a%2Fb/thumbnail HTTP/1.1", {}));
    write("handler", "ui", request("GET /ui/app.js HTTP/1.1", {}));
    write("handler", "method", request("PATCH /v1/search HTTP/1.1", {}));
    write("handler", "expect", request("POST /v1/search HTTP/1.1", {"Expect: 100-continue", "Content-Type: text/plain"}, "x"));
    write("handler", "pipelined", request("GET /healthz HTTP/1.1", {}) + request("GET /readyz HTTP/1.1", {}));
    write("handler", "too-long", request("POST /v1/search HTTP/1.1", {"Content-Type: image/png", "Content-Length: 99999999"}));
}

void manifests() {
    write("snapshot_manifest", "format1.json", R"({"format": 1, "generation": 0, "max_id": 12, "pdq": "pdq-1.faiss", "descriptors": "desc-1.faiss"})");
    write("snapshot_manifest", "format2.json",
          R"({"format": 2, "generation": 3, "max_id": 900, "segments": [{"first_id": 1, "last_id": 512, "pdq": "pdq-1-512.faiss",)"
          R"( "descriptors": "desc-1-512.faiss"}, {"first_id": 513, "last_id": 900, "pdq": "pdq-513-900.faiss", "descriptors": "desc-513-900.faiss"}]})");
    neardup::store::SnapshotManifest m;
    m.generation = 2;
    m.max_id = 300;
    m.segments.push_back({1, 256, "pdq-1-256.faiss", "desc-1-256.faiss", std::string(64, 'a'), "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"});
    m.segments.push_back({257, 300, "pdq-257-300.faiss", "desc-257-300.faiss", std::string(64, '5'), std::string(64, 'e')});
    write("snapshot_manifest", "format3.json", neardup::store::format_snapshot_manifest(m));
    m.segments[0].embeddings = "emb-1-256.faiss";  // a segment with an embedding file (optional fields)
    m.segments[0].embeddings_sha256 = std::string(64, 'c');
    write("snapshot_manifest", "embeddings.json", neardup::store::format_snapshot_manifest(m));
    m.segments.clear();
    write("snapshot_manifest", "format3-empty.json", neardup::store::format_snapshot_manifest(m));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR (fuzz/corpus)\n", argv[0]);
        return 1;
    }
    g_root = argv[1];
    images();
    signatures();
    request_targets();
    multipart();
    http_requests();
    manifests();
    return 0;
}
