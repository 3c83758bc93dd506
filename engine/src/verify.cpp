#include "neardup/engine/verify.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/calib3d.hpp>
#include <opencv2/features2d.hpp>
#include <opencv2/imgproc.hpp>

#include "neardup/engine/hamming.hpp"

namespace neardup {
namespace {

double logistic(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// The homography's local Jacobian at a point (zero where the point maps to infinity).
cv::Matx22d local_jacobian(const cv::Mat& h, cv::Point2f p) {
    const double x = p.x, y = p.y;
    const double w = h.at<double>(2, 0) * x + h.at<double>(2, 1) * y + h.at<double>(2, 2);
    if (std::abs(w) < 1e-9) return cv::Matx22d::zeros();
    const double a = h.at<double>(0, 0), b = h.at<double>(0, 1), c = h.at<double>(1, 0), d = h.at<double>(1, 1);
    const double g = h.at<double>(2, 0), hh = h.at<double>(2, 1);
    const double u = (a * x + b * y + h.at<double>(0, 2)) / w, v = (c * x + d * y + h.at<double>(1, 2)) / w;
    // Jacobian of (u, v) with respect to (x, y).
    return {(a - u * g) / w, (b - u * hh) / w, (c - v * g) / w, (d - v * hh) / w};
}

// The larger singular value of a 2 x 2 matrix over the smaller: 1 for a rotation and uniform scale.
double anisotropy(const cv::Matx22d& j) {
    const double frobenius2 = j(0, 0) * j(0, 0) + j(0, 1) * j(0, 1) + j(1, 0) * j(1, 0) + j(1, 1) * j(1, 1);
    const double det = std::abs(cv::determinant(j));
    // s1^2 + s2^2 = |J|_F^2 and s1 * s2 = |det J|.
    const double root = std::sqrt(std::max(0.0, frobenius2 * frobenius2 - 4 * det * det));
    const double s1 = std::sqrt(0.5 * (frobenius2 + root)), s2 = std::sqrt(std::max(0.0, 0.5 * (frobenius2 - root)));
    return s2 > 1e-12 ? s1 / s2 : 1e12;
}

// The standard deviation of `points` across their principal direction: the thickness of the band they lie
// in (the square root of the smaller eigenvalue of their covariance).
double thickness(const std::vector<cv::Point2f>& points) {
    if (points.size() < 2) return 0;
    double mx = 0, my = 0;
    for (const auto& p : points) {
        mx += p.x;
        my += p.y;
    }
    const double n = static_cast<double>(points.size());
    mx /= n;
    my /= n;
    double xx = 0, yy = 0, xy = 0;
    for (const auto& p : points) {
        xx += (p.x - mx) * (p.x - mx);
        yy += (p.y - my) * (p.y - my);
        xy += (p.x - mx) * (p.y - my);
    }
    xx /= n;
    yy /= n;
    xy /= n;
    const double half_gap = std::sqrt(0.25 * (xx - yy) * (xx - yy) + xy * xy);
    return std::sqrt(std::max(0.0, 0.5 * (xx + yy) - half_gap));
}

// GeometricMatch::agreement: `to_query` maps reference frame points into the query frame, `box` is the
// inliers' box in the reference frame and `is_inlier` marks the reference keypoints that are inliers.
double content_agreement(const LocalFeatures& query, const LocalFeatures& reference, const cv::Mat& to_query, const cv::Rect2f& box,
                         const std::vector<char>& is_inlier, const VerifyOptions& options) {
    const int bytes = descriptor_bytes(query.kind);
    if (static_cast<std::size_t>(bytes) != kBinaryDescriptorBytes || query.kind == FeatureKind::sift) return -1;
    // The query's keypoints in square cells of the radius' size: a neighbour lies in the 3 x 3 around.
    const float cell = static_cast<float>(std::max(1.0, options.agreement_pixels));
    const int cols = static_cast<int>(query.frame_width / cell) + 1, rows = static_cast<int>(query.frame_height / cell) + 1;
    std::vector<std::vector<int>> cells(static_cast<std::size_t>(cols) * rows);
    for (std::size_t i = 0; i < query.size(); ++i) {
        const cv::Point2f p = query.position(i);
        const int cx = std::clamp(static_cast<int>(p.x / cell), 0, cols - 1), cy = std::clamp(static_cast<int>(p.y / cell), 0, rows - 1);
        cells[static_cast<std::size_t>(cy) * cols + cx].push_back(static_cast<int>(i));
    }
    std::vector<cv::Point2f> inside;
    std::vector<int> which;
    for (std::size_t j = 0; j < reference.size(); ++j)
        if (!is_inlier[j] && box.contains(reference.position(j))) {
            inside.push_back(reference.position(j));
            which.push_back(static_cast<int>(j));
        }
    if (inside.empty()) return -1;
    std::vector<cv::Point2f> mapped;
    cv::perspectiveTransform(inside, mapped, to_query);
    const float r2 = cell * cell;
    int checked = 0, agreed = 0;
    for (std::size_t m = 0; m < mapped.size(); ++m) {
        const cv::Point2f p = mapped[m];
        if (!(p.x >= 0 && p.y >= 0 && p.x < query.frame_width && p.y < query.frame_height)) continue;
        const int cx = static_cast<int>(p.x / cell), cy = static_cast<int>(p.y / cell);
        int best = 1 << 30;
        for (int y = std::max(0, cy - 1); y <= std::min(rows - 1, cy + 1); ++y)
            for (int x = std::max(0, cx - 1); x <= std::min(cols - 1, cx + 1); ++x)
                for (int i : cells[static_cast<std::size_t>(y) * cols + x]) {
                    const cv::Point2f d = query.position(i) - p;
                    if (d.x * d.x + d.y * d.y > r2) continue;
                    best = std::min(best, hamming_distance32(query.descriptors.data() + static_cast<std::size_t>(i) * bytes,
                                                    reference.descriptors.data() + static_cast<std::size_t>(which[m]) * bytes));
                }
        if (best == 1 << 30) continue;
        ++checked;
        agreed += best <= options.agreement_distance ? 1 : 0;
    }
    return checked >= options.agreement_min_checked ? static_cast<double>(agreed) / checked : -1;
}

}  // namespace

GeometricMatch verify_geometry(const LocalFeatures& query, const LocalFeatures& reference, cv::Size reference_size,
                               const VerifyOptions& options, cv::Size query_size) {
    GeometricMatch out;
    if (query.size() < 4 || reference.size() < 4 || query.kind != reference.kind) return out;
    std::vector<std::vector<cv::DMatch>> knn;
    if (descriptor_bytes(query.kind) == kBinaryDescriptorBytes && query.kind != FeatureKind::sift) {
        // ORB: the two nearest by a POPCNT brute force (cv::BFMatcher pays a library call per distance).
        std::vector<TwoNearest> nearest(query.size());
        two_nearest_hamming32(query.descriptors.data(), query.size(), reference.descriptors.data(), reference.size(), nearest.data());
        knn.resize(query.size());
        for (std::size_t i = 0; i < nearest.size(); ++i) {
            const TwoNearest& n = nearest[i];
            if (n.index < 0) continue;
            knn[i].emplace_back(static_cast<int>(i), n.index, static_cast<float>(n.distance));
            if (reference.size() > 1) knn[i].emplace_back(static_cast<int>(i), -1, static_cast<float>(n.second));
        }
    } else {
        const bool binary = query.kind != FeatureKind::sift;
        cv::Mat qd = query.descriptor_view(), rd = reference.descriptor_view();
        if (!binary) {
            qd.convertTo(qd, CV_32F);
            rd.convertTo(rd, CV_32F);
        }
        cv::BFMatcher(binary ? cv::NORM_HAMMING : cv::NORM_L2).knnMatch(qd, rd, knn, 2);
    }
    // Ratio test, then keep one match per reference keypoint (the closest) so that repeated texture
    // cannot pile many query points onto one reference point.
    std::vector<cv::DMatch> best_for_reference(reference.size(), cv::DMatch(-1, -1, 1e9f));
    for (const auto& m : knn) {
        if (m.empty()) continue;
        if (m.size() == 2 && m[0].distance >= options.ratio * m[1].distance) continue;
        auto& slot = best_for_reference[m[0].trainIdx];
        if (m[0].distance < slot.distance) slot = m[0];
    }
    std::vector<cv::Point2f> qp, rp;
    std::vector<int> qi, ri;
    std::vector<int> turn_bins(static_cast<std::size_t>(std::max(0, options.orientation_bins)), 0);
    for (const auto& m : best_for_reference) {
        if (m.queryIdx < 0) continue;
        qp.push_back(query.position(m.queryIdx));
        qi.push_back(m.queryIdx);
        ri.push_back(m.trainIdx);
        rp.push_back(reference.position(m.trainIdx));
        if (!turn_bins.empty()) {
            // Angles are in 1/256 turn: the difference wraps around in uint8 arithmetic.
            const auto turn = static_cast<std::uint8_t>(reference.keypoints[m.trainIdx].angle - query.keypoints[m.queryIdx].angle);
            ++turn_bins[turn * turn_bins.size() / 256];
        }
    }
    out.correspondences = static_cast<int>(qp.size());
    // Fewer correspondences than this cannot reach a score worth reporting; skipping RANSAC on them is
    // what keeps verification of unrelated candidates cheap.
    if (out.correspondences < options.min_correspondences) return out;
    if (!turn_bins.empty()) {
        int best = 0;
        const int bins = static_cast<int>(turn_bins.size());
        for (int b = 0; b < bins; ++b) {
            int window = 0;
            for (int w = 0; w < std::max(1, options.orientation_window); ++w) window += turn_bins[(b + w) % bins];
            best = std::max(best, window);
        }
        if (best < options.orientation_min) return out;
    }
    std::vector<unsigned char> mask;
    const cv::Mat h = cv::findHomography(qp, rp, cv::RANSAC, options.ransac_pixels, mask, options.ransac_iterations, 0.995);
    if (h.empty()) return out;
    const cv::Point2f centre(query.frame_width / 2.0f, query.frame_height / 2.0f);
    const cv::Matx22d jacobian = local_jacobian(h, centre);
    const double scale = cv::determinant(jacobian);
    if (!(scale > 1.0 / options.max_area_scale && scale < options.max_area_scale)) return out;  // also rejects mirror-flips (det < 0)
    std::vector<cv::Point2f> inlier_points, query_points;
    std::vector<char> reference_inlier(reference.size(), 0);
    for (std::size_t i = 0; i < mask.size(); ++i)
        if (mask[i]) {
            inlier_points.push_back(rp[i]);
            query_points.push_back(qp[i]);
            out.query_inliers.push_back(qi[i]);
            reference_inlier[ri[i]] = 1;
        }
    // Inliers bunched in a tiny patch are a repeated logo or texture, not a copy of the photo.
    const cv::Rect2f box = cv::boundingRect(inlier_points);
    const float frame_area = static_cast<float>(reference.frame_width) * reference.frame_height;
    if (box.area() < 0.002f * frame_area) {
        out.query_inliers.clear();
        return out;
    }
    // Inliers along one thin band on both sides are a line of overlaid text or a button, unless the
    // content around them agrees too.
    out.thickness = std::max(thickness(inlier_points) / std::max<int>({1, reference.frame_width, reference.frame_height}),
                             thickness(query_points) / std::max<int>({1, query.frame_width, query.frame_height}));
    if (options.min_inlier_thickness > 0 && out.thickness < options.min_inlier_thickness) {
        out.agreement = content_agreement(query, reference, h.inv(), box, reference_inlier, options);
        if (out.agreement < options.thin_agreement) {
            out.query_inliers.clear();
            return out;
        }
    }
    out.inliers = static_cast<int>(inlier_points.size());
    std::vector<cv::Point2f> projected;
    cv::perspectiveTransform(query_points, projected, h);
    std::vector<double> errors(projected.size());
    for (std::size_t i = 0; i < projected.size(); ++i) errors[i] = cv::norm(projected[i] - inlier_points[i]);
    std::nth_element(errors.begin(), errors.begin() + errors.size() / 2, errors.end());
    out.residual = errors[errors.size() / 2];
    out.anisotropy = anisotropy(jacobian);
    out.reference_coverage = box.area() / frame_area;
    const cv::Rect2f query_box = cv::boundingRect(query_points);
    out.query_coverage = query_box.area() / std::max(1.0f, static_cast<float>(query.frame_width) * query.frame_height);
    const float sx = static_cast<float>(reference_size.width) / std::max<int>(1, reference.frame_width);
    const float sy = static_cast<float>(reference_size.height) / std::max<int>(1, reference.frame_height);
    out.reference_region = cv::Rect2f(box.x * sx, box.y * sy, box.width * sx, box.height * sy);
    if (query_size.area() > 0) {
        const cv::Rect2f& qbox = query_box;
        const float qx = static_cast<float>(query_size.width) / std::max<int>(1, query.frame_width);
        const float qy = static_cast<float>(query_size.height) / std::max<int>(1, query.frame_height);
        out.query_region = cv::Rect2f(qbox.x * qx, qbox.y * qy, qbox.width * qx, qbox.height * qy);
    }
    return out;
}

double geometry_score(const GeometricMatch& g, const ScoreModel& model) {
    if (g.inliers <= 0) return 0.0;
    const double ratio = std::min(1.0, static_cast<double>(g.inliers) / std::max(1, g.correspondences));
    return logistic(model.geometry_bias + model.geometry_log_inliers * std::log(static_cast<double>(g.inliers)) +
                    model.geometry_inlier_ratio * ratio + model.geometry_log_anisotropy * std::log(std::max(1.0, g.anisotropy)));
}

double match_score(const MatchEvidence& e, const ScoreModel& model) {
    const double p_hash = e.pdq_quality >= model.pdq_min_quality
                              ? logistic((model.pdq_center - e.pdq_distance) / model.pdq_width)
                              : 0.0;
    const double p_geometry = geometry_score(e.geometry, model);
    const double p_embedding =
        e.embedding_similarity ? logistic((*e.embedding_similarity - model.embedding_center) / model.embedding_width) : 0.0;
    return 1.0 - (1.0 - p_hash) * (1.0 - p_geometry) * (1.0 - p_embedding);
}

MatchEvidence compare(const QuerySignature& query, const Signature& reference, const ScoreModel& model,
                      const VerifyOptions& options) {
    MatchEvidence e;
    const Signature& q = query.signature;
    if (q.pdq_dihedral.empty()) {
        e.pdq_distance = hamming_distance(q.pdq.hash, reference.pdq.hash);
    } else {
        for (const auto& h : q.pdq_dihedral) e.pdq_distance = std::min(e.pdq_distance, hamming_distance(h, reference.pdq.hash));
    }
    e.pdq_quality = std::min(q.pdq.quality, reference.pdq.quality);
    const cv::Size ref_size(static_cast<int>(reference.width), static_cast<int>(reference.height));
    const cv::Size query_size(static_cast<int>(q.width), static_cast<int>(q.height));
    e.geometry = verify_geometry(q.features, reference.features, ref_size, options, query_size);
    // A copy that verifies strongly as is needs no mirrored check.
    if (!query.mirrored_features.keypoints.empty() && e.geometry.inliers < options.skip_mirror_inliers) {
        GeometricMatch mirrored = verify_geometry(query.mirrored_features, reference.features, ref_size, options, query_size);
        mirrored.mirrored = true;
        // Found in the mirrored query: its area in the query as given is the mirror image of it.
        mirrored.query_region.x = static_cast<float>(query_size.width) - mirrored.query_region.x - mirrored.query_region.width;
        if (mirrored.inliers > e.geometry.inliers) e.geometry = mirrored;
    }
    if (!q.embedding.empty() && q.embedding.size() == reference.embedding.size())
        e.embedding_similarity = cosine_similarity(q.embedding, reference.embedding);
    e.score = match_score(e, model);
    return e;
}

}  // namespace neardup
