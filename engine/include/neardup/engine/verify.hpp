// Compares a query with one candidate reference: hash distances, geometric verification, a calibrated score.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include <opencv2/core/types.hpp>

#include "neardup/engine/signature.hpp"

namespace neardup {

// Keypoint correspondences that one plane-to-plane transform explains.
struct GeometricMatch {
    int inliers = 0;              // correspondences consistent with the homography
    int correspondences = 0;      // ratio-test survivors fed to RANSAC
    bool mirrored = false;        // found through the mirrored query
    cv::Rect2f reference_region;  // inliers' bounding box in the reference, full-size pixels
    cv::Rect2f query_region;      // the same inliers' bounding box in the query, full-size pixels (0 when unknown)
    std::vector<int> query_inliers;  // indices of the inliers' query keypoints (in the mirrored features when mirrored)
    // The inlier band's thickness and, for a thin band only, the agreement of the content around it
    // (VerifyOptions::min_inlier_thickness); agreement is -1 when not measured or too few were compared.
    double thickness = 0;
    double agreement = -1;
    // The median distance between an inlier's reference keypoint and its query keypoint carried over by the
    // homography, in the reference's feature-frame pixels: an edited copy is one exact transform, a second
    // photo of the same flat object only nearly one.
    double residual = 0;
    // The homography's local stretch at the query's centre: the larger singular value of its Jacobian over
    // the smaller (1 for a rotated or rescaled copy; large for a steep change of viewpoint).
    double anisotropy = 1;
    // The inliers' bounding boxes as a share of each frame's area.
    double reference_coverage = 0;
    double query_coverage = 0;
};

struct VerifyOptions {
    // Lowe's ratio between the best and second-best descriptor distance; 0.8 from the SIFT paper,
    // which holds for ORB's Hamming distances too on our measurements.
    float ratio = 0.8f;
    // RANSAC reprojection tolerance in pixels of the 512 px feature frame.
    double ransac_pixels = 6.0;
    // A transform that shrinks or enlarges area beyond this factor is not an edit a listing makes.
    double max_area_scale = 64.0;
    // Ratio-test survivors needed before RANSAC runs at all (a match needs well over this many inliers).
    int min_correspondences = 8;
    // RANSAC's iteration cap; it stops far earlier once a good model is found.
    int ransac_iterations = 1000;
    // Direct verification with at least this many inliers skips the mirrored check.
    int skip_mirror_inliers = 40;
    // Orientation gate (weak geometric consistency, as in Hamming-embedding retrieval): the keypoints of a
    // copy turn by one angle (a rotated or perspective copy by nearly one), so the orientation differences of
    // its true correspondences pile up in one place, while an unrelated candidate's spread evenly. RANSAC runs
    // only when some window of `orientation_window` of `orientation_bins` equal angle bins holds at least
    // `orientation_min` of them; it then still sees every correspondence. Unrelated candidates with enough
    // ratio-test survivors otherwise run all of RANSAC's iterations (the bulk of query time against an
    // archive of real photos, bench_scale --distractors real). 0 bins turn the gate off.
    int orientation_bins = 16;
    int orientation_window = 2;  // 2 of 16: 45 degrees, wide for ORB's orientation noise on blurred copies
    // 6, not min_correspondences (8): true copies whose ORB orientations are noisy keep their few-inlier
    // scores (offline benchmark, 2026-12-02: at 8 muAP fell 0.9101 -> 0.9091, at 6 it is 0.9106).
    int orientation_min = 6;
    // Inliers along one thin band (a line of overlaid text: "LIMITED OFFER" in the same font over two
    // different photos, a price tag, a button) are not by themselves a copy of the photo. The band's
    // thickness is the standard deviation of the inlier positions across their principal direction, as a
    // fraction of the frame's long side, the larger of the query's and the reference's. With the rule on, a
    // thinner set verifies only when the content around it agrees too (a copy of a photo whose detail lies
    // along a horizon does; two different photos under the same text do not): of the reference keypoints
    // inside the inliers' box that are not inliers and that the query has a keypoint near (within
    // `agreement_pixels` of the transformed position, feature frame), at least `thin_agreement` must have a
    // query descriptor within `agreement_distance` bits (unrelated ORB descriptors lie near 128), and at
    // least `agreement_min_checked` must have been compared. Off by default (0): measured and not adopted
    // (README "Quality": 0.015 / 0.6, chosen on train, removed 5 of 111 false matches on test with 20k
    // distractors and the shared-inlier discount at 3, where the region pass then found others, and cost
    // a true pair without them; with the discount at 2 it lowered every muAP and added false matches).
    double min_inlier_thickness = 0;
    double thin_agreement = 0.6;
    double agreement_pixels = 6.0;
    int agreement_distance = 80;
    int agreement_min_checked = 24;
};

// Ratio-tested one-to-one matches, then a RANSAC homography with sanity checks. Returns zero inliers
// when no plausible transform exists. `reference_size` is the reference's full-size width and height.
GeometricMatch verify_geometry(const LocalFeatures& query, const LocalFeatures& reference, cv::Size reference_size,
                               const VerifyOptions& options = {}, cv::Size query_size = {});

// Everything one (query, reference) comparison found.
struct MatchEvidence {
    int pdq_distance = 256;      // smallest Hamming distance over the query's eight PDQ variants
    int pdq_quality = 0;         // the lower of the two PDQ quality scores
    GeometricMatch geometry;     // the better of the direct and mirrored verification
    // Cosine similarity of the two embeddings; none unless both signatures carry one of one dimension.
    std::optional<float> embedding_similarity;
    double score = 0;            // in [0, 1], comparable across queries
};

// Maps evidence to a score that reads like the probability of a true copy. Each part is a logistic curve
// fitted on the offline benchmark (see docs/ARCHITECTURE.md); the parts are combined as a noisy-OR, so
// either strong evidence alone is enough.
struct ScoreModel {
    double pdq_center = 52;     // PDQ distance at which the hash evidence alone gives 0.5
    double pdq_width = 5;
    int pdq_min_quality = 50;   // below this a PDQ match is ignored (flat images collide)
    // The geometric part: a logistic regression, logistic(bias + log_inliers * ln(inliers) + inlier_ratio *
    // inliers / correspondences + log_anisotropy * ln(anisotropy)), zero without inliers. Fitted with
    // bench/fit_score.py on the offline benchmark's train split (hits of bench_quality --hits-csv; README
    // "Quality", "The score, fitted"). More inliers count for less as they grow (the log); a copy's ratio-test
    // survivors are mostly inliers while a look-alike's are not; a steep stretch is a change of viewpoint (a
    // second photo of one flat object), not an edit.
    double geometry_bias = -7.0337;
    double geometry_log_inliers = 2.7690;
    double geometry_inlier_ratio = 1.4453;
    double geometry_log_anisotropy = -1.7163;
    // Embedding similarity at which it alone gives 0.5, when both carry embeddings (embedding.hpp). Not
    // fitted: no embedding model ships with neardup, and each model places copies at its own similarities.
    // 0.85 and 0.025 make 0.9 a match on its own (score 0.88) and 0.8 (0.12) none, above the 0.75 where the
    // SSCD authors report about 90 % precision; fit both on a train split with bench_quality --embedder
    // for the model in use.
    double embedding_center = 0.85;
    double embedding_width = 0.025;
};

double match_score(const MatchEvidence& evidence, const ScoreModel& model = {});
// The geometric part of match_score alone (0 without inliers).
double geometry_score(const GeometricMatch& geometry, const ScoreModel& model = {});

// PDQ distance, direct and mirrored geometric verification, and the score.
MatchEvidence compare(const QuerySignature& query, const Signature& reference, const ScoreModel& model = {},
                      const VerifyOptions& options = {});

}  // namespace neardup
