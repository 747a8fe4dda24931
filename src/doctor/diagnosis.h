#pragma once
// The known causes, each with its words, fix and docs/troubleshooting.md section. Checks and
// Explain() both draw from here, so the doctor and the exporter say the same thing.

#include <span>

#include "kmb/doctor/doctor.h"

namespace kmb::doctor::dx {

extern const Diagnosis kDns;
extern const Diagnosis kConnect;
extern const Diagnosis kTimeout;
extern const Diagnosis kApiServerCertificate;
extern const Diagnosis kInsecureSkipVerify;
extern const Diagnosis kUnauthorized;
extern const Diagnosis kForbidden;
extern const Diagnosis kAggregationMissing;
extern const Diagnosis kDiscoveryTimeout;
extern const Diagnosis kAggregationFlags;
extern const Diagnosis kMetricsServerErrors;
extern const Diagnosis kMissingEndpoints;
extern const Diagnosis kServiceNotFound;
extern const Diagnosis kServiceCidrTimeout;
extern const Diagnosis kMetricsApiUnavailable;
extern const Diagnosis kStaleMetrics;
extern const Diagnosis kNodesMissingFromMetrics;
extern const Diagnosis kKubeletNoIpSan;
extern const Diagnosis kKubeletCertificate;
extern const Diagnosis kKubeletUnreachable;
extern const Diagnosis kReadOnlyPortClosed;
extern const Diagnosis kReadOnlyPortOpen;
extern const Diagnosis kClockSkew;
extern const Diagnosis kTokenExpired;
extern const Diagnosis kTokenExpiresSoon;
extern const Diagnosis kCertificateExpires;
extern const Diagnosis kDecode;
extern const Diagnosis kKubeconfig;
extern const Diagnosis kOther;

// Every diagnosis above (a test checks each has its section in docs/troubleshooting.md).
std::span<const Diagnosis* const> All();

}  // namespace kmb::doctor::dx
