#include "kmb/exposition/writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <cmath>
#include <limits>
#include <regex>
#include <set>
#include <thread>

#include "common/gunzip.h"
#include "kmb/catalog/catalog.h"

namespace kmb {
namespace {

catalog::MetricId Id(std::string_view name) {
  int id = catalog::FindByName(name);
  EXPECT_GE(id, 0) << name;
  return static_cast<catalog::MetricId>(id);
}

std::string Scaled(Sample s, int exp10) {
  std::string out;
  AppendScaledValue(out, s, exp10);
  return out;
}

TEST(ScaledValue, IntegersScaleExactly) {
  EXPECT_EQ(Scaled(Sample::Uint(0, 63349226000), -9), "63.349226");
  EXPECT_EQ(Scaled(Sample::Uint(0, 1), -9), "0.000000001");
  EXPECT_EQ(Scaled(Sample::Uint(0, 1000000000), -9), "1");
  EXPECT_EQ(Scaled(Sample::Uint(0, 0), -9), "0");
  EXPECT_EQ(Scaled(Sample::Uint(0, 41213702), -6), "41.213702");
  EXPECT_EQ(Scaled(Sample::Uint(0, 120), -6), "0.00012");
  EXPECT_EQ(Scaled(Sample::Uint(0, 1234), 0), "1234");
  // Past 2^53 a double would round; the exact decimal must survive.
  EXPECT_EQ(Scaled(Sample::Uint(0, 9223372036854775807ULL), -9), "9223372036.854775807");
  EXPECT_EQ(Scaled(Sample::Uint(0, 18446744073709551615ULL), 0), "18446744073709551615");
  EXPECT_EQ(Scaled(Sample::Int(0, -1500), -3), "-1.5");
}

TEST(ScaledValue, DoublesAndSpecials) {
  EXPECT_EQ(Scaled(Sample::Double(0, 0.487558164), 0), "0.487558164");
  EXPECT_EQ(Scaled(Sample::Double(0, 74), 0), "74");
  EXPECT_EQ(Scaled(Sample::Double(0, std::numeric_limits<double>::infinity()), 0), "+Inf");
  EXPECT_EQ(Scaled(Sample::Double(0, -std::numeric_limits<double>::infinity()), 0), "-Inf");
  EXPECT_EQ(Scaled(Sample::Double(0, std::nan("")), 0), "NaN");
}

// A double that is a short decimal (the kubelet's PSI averages: percents with two digits) is
// scaled in decimal, exactly; any other double goes through the shortest round-trip form.
TEST(ScaledValue, ShortDecimalsScaleExactly) {
  EXPECT_EQ(Scaled(Sample::Double(0, 11.63), -2), "0.1163");  // not 0.11630000000000001
  EXPECT_EQ(Scaled(Sample::Double(0, 0.03), -2), "0.0003");
  EXPECT_EQ(Scaled(Sample::Double(0, 100), -2), "1");
  EXPECT_EQ(Scaled(Sample::Double(0, 0), -2), "0");
  EXPECT_EQ(Scaled(Sample::Double(0, 0.1234), -9), "0.0000000001234");
  EXPECT_EQ(Scaled(Sample::Double(0, 99999999999.9999), 0), "99999999999.9999");
  EXPECT_EQ(Scaled(Sample::Double(0, 100000), 0), "100000");
  // Not short decimals: five digits, past 1e11, negative, -0, a scale above 1.
  EXPECT_EQ(Scaled(Sample::Double(0, 0.12345), -2), "0.0012345000000000001");
  EXPECT_EQ(Scaled(Sample::Double(0, 1e11), 0), "1e+11");
  EXPECT_EQ(Scaled(Sample::Double(0, -11.63), -2), "-0.11630000000000001");
  EXPECT_EQ(Scaled(Sample::Double(0, -0.0), -2), "-0");
  EXPECT_EQ(Scaled(Sample::Double(0, 1.5), 3), "1500");

  // Every decimal of up to four digits reads back as the decimal itself, scaled: the text
  // parses to the double nearest to n * 10^(exp10 - k), whatever the double's own rounding.
  uint64_t state = 42;
  auto next = [&] { return state = state * 6364136223846793005ULL + 1442695040888963407ULL; };
  for (int i = 0; i < 20000; ++i) {
    const int k = static_cast<int>(next() >> 61) % 5;
    const uint64_t n = (next() >> 20) % (i % 2 ? 10000000ULL : 100000000000000ULL);
    const int exp10 = -static_cast<int>((next() >> 60) % 12);
    const double d = std::strtod((std::to_string(n) + "e-" + std::to_string(k)).c_str(), nullptr);
    if (d >= 1e11) continue;
    const std::string text = Scaled(Sample::Double(0, d), exp10);
    const double want =
        std::strtod((std::to_string(n) + "e" + std::to_string(exp10 - k)).c_str(), nullptr);
    ASSERT_EQ(std::strtod(text.c_str(), nullptr), want)
        << n << "e-" << k << " scaled by 1e" << exp10 << " wrote " << text;
    ASSERT_EQ(text.find('e'), std::string::npos) << text;
  }
}

TEST(LabelEscaping, EscapesBackslashQuoteNewline) {
  std::string out;
  AppendEscapedLabelValue(out, "a\\b\"c\nd");
  EXPECT_EQ(out, "a\\\\b\\\"c\\nd");
}

// The check for characters to escape reads 8 bytes at a time: each special character at every
// position of values of every length around the 8-byte steps, among bytes that look close
// (other ASCII, and UTF-8 bytes with the high bit set).
TEST(LabelEscaping, FindsEachSpecialCharacterAtEveryPosition) {
  const std::string filler = "x\xc3\xa9]!#\x7f\x01\x5b\x21";  // none of them is escaped
  for (size_t len = 1; len <= 27; ++len) {
    std::string plain;
    for (size_t i = 0; i < len; ++i) plain.push_back(filler[i % filler.size()]);
    std::string out;
    AppendEscapedLabelValue(out, plain);
    EXPECT_EQ(out, plain) << len;
    for (size_t at = 0; at < len; ++at) {
      for (const auto& [c, escaped] : {std::pair{'\\', "\\\\"}, std::pair{'"', "\\\""},
                                       std::pair{'\n', "\\n"}}) {
        std::string value = plain;
        value[at] = c;
        std::string want = plain.substr(0, at) + escaped + plain.substr(at + 1);
        out.clear();
        AppendEscapedLabelValue(out, value);
        EXPECT_EQ(out, want) << "length " << len << ", at " << at;
      }
    }
  }
}

Snapshot TwoNodeSnapshot() {
  Snapshot s;
  s.summary.enabled = true;
  s.metrics_api.enabled = true;
  s.metrics_api.up = true;
  s.polls_total = 3;
  for (std::string node : {"n1", "n2"}) {
    NodeResult r;
    r.node = node;
    EntityStats n;
    n.entity = catalog::Entity::kNode;
    n.labels = {node};
    n.samples.push_back(Sample::Uint(Id("node_cpu_usage_seconds_total"), 2500000000));
    n.samples.push_back(Sample::Uint(Id("node_memory_working_set_bytes"), 1024));
    for (Sample& x : n.samples) n.SetTime(x, 1700000000123);
    r.summary.entities.push_back(n);
    EntityStats c;
    c.entity = catalog::Entity::kContainer;
    c.labels = {"ns", "pod\"x", "c1", node};
    c.samples.push_back(Sample::Uint(Id("container_memory_working_set_bytes"), 77));
    r.summary.entities.push_back(c);
    s.nodes.push_back(r);
  }
  NodeResult bad;
  bad.node = "n3";
  bad.status = Status::Error(reason::kHttp5xx, "boom");
  s.nodes.push_back(bad);
  s.errors_total[{"summary", "http_5xx"}] = 4;
  EntityStats api;
  api.entity = catalog::Entity::kApiNode;
  api.labels = {"n1"};
  api.samples.push_back(Sample::Double(Id("k8s_metrics_api_node_cpu_usage_cores"), 0.25));
  s.metrics_api_entities.push_back(api);
  return s;
}

TEST(Writer, TextFamiliesAreContiguousWithHelpAndType) {
  std::string text = RenderExposition(TwoNodeSnapshot(), ExpositionFormat::kText004);
  // Family-major: both nodes' cpu lines sit together under one header.
  EXPECT_NE(text.find("# HELP node_cpu_usage_seconds_total "), std::string::npos);
  EXPECT_NE(text.find("# TYPE node_cpu_usage_seconds_total counter\n"
                      "node_cpu_usage_seconds_total{node=\"n1\"} 2.5\n"
                      "node_cpu_usage_seconds_total{node=\"n2\"} 2.5\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("container_memory_working_set_bytes{namespace=\"ns\",pod=\"pod\\\"x\","
                      "container=\"c1\",node=\"n1\"} 77\n"),
            std::string::npos);
  EXPECT_NE(text.find("k8s_metrics_api_node_cpu_usage_cores{node=\"n1\"} 0.25\n"),
            std::string::npos);
  // The failing node: source_up 0 and no data series.
  EXPECT_NE(text.find("kube_metrics_bridge_source_up{source=\"summary\",node=\"n3\"} 0\n"),
            std::string::npos);
  EXPECT_EQ(text.find("node=\"n3\"} 0\nnode_"), std::string::npos);
  EXPECT_EQ(text.find("node_cpu_usage_seconds_total{node=\"n3\"}"), std::string::npos);
  EXPECT_NE(
      text.find("kube_metrics_bridge_errors_total{source=\"summary\",reason=\"http_5xx\"} 4\n"),
      std::string::npos);
  EXPECT_NE(
      text.find("kube_metrics_bridge_errors_total{source=\"summary\",reason=\"timeout\"} 0\n"),
      std::string::npos);
  EXPECT_NE(text.find("kube_metrics_bridge_series{source=\"summary\"} 6\n"), std::string::npos);
  EXPECT_NE(text.find("kube_metrics_bridge_series{source=\"metrics-api\"} 1\n"), std::string::npos);
  EXPECT_EQ(text.find("# EOF"), std::string::npos);
  EXPECT_EQ(text.find("# UNIT"), std::string::npos);

  // Every family name appears in exactly one TYPE line, and samples follow their header.
  std::regex type_re("# TYPE ([a-z_0-9]+) ");
  std::set<std::string> seen;
  for (std::sregex_iterator it(text.begin(), text.end(), type_re), end; it != end; ++it) {
    EXPECT_TRUE(seen.insert((*it)[1]).second) << "family twice: " << (*it)[1];
  }
}

TEST(Writer, OpenMetricsNamesUnitsAndEof) {
  std::string om = RenderExposition(TwoNodeSnapshot(), ExpositionFormat::kOpenMetrics100);
  EXPECT_NE(om.find("# TYPE node_cpu_usage_seconds counter\n# UNIT node_cpu_usage_seconds "
                    "seconds\nnode_cpu_usage_seconds_total{node=\"n1\"} 2.5\n"),
            std::string::npos)
      << om;
  EXPECT_TRUE(om.ends_with("# EOF\n"));
}

TEST(Writer, SourceTimestampsInMillisAndSeconds) {
  WriterOptions o;
  o.source_timestamps = true;
  std::string text = RenderExposition(TwoNodeSnapshot(), ExpositionFormat::kText004, o);
  // Block times are kept to the second (the kubelet's RFC 3339 times carry no fraction).
  EXPECT_NE(text.find("node_cpu_usage_seconds_total{node=\"n1\"} 2.5 1700000000000\n"),
            std::string::npos);
  std::string om = RenderExposition(TwoNodeSnapshot(), ExpositionFormat::kOpenMetrics100, o);
  EXPECT_NE(om.find("node_cpu_usage_seconds_total{node=\"n1\"} 2.5 1700000000\n"),
            std::string::npos);
  // A sample without a block time carries none.
  EXPECT_NE(text.find("container=\"c1\",node=\"n1\"} 77\n"), std::string::npos);
}

using testing::Gunzip;

TEST(Exposition, GzipOnceAndRoundTrips) {
  auto snap = std::make_shared<Snapshot>(TwoNodeSnapshot());
  Exposition e(snap, {});
  const std::string& gz1 = e.GzipBody(ExpositionFormat::kText004);
  const std::string& gz2 = e.GzipBody(ExpositionFormat::kText004);
  EXPECT_EQ(&gz1, &gz2);  // computed once, the same bytes for every scraper
  EXPECT_EQ(Gunzip(gz1), e.Body(ExpositionFormat::kText004));
  EXPECT_NE(e.Body(ExpositionFormat::kOpenMetrics100), e.Body(ExpositionFormat::kText004));
}

// TwoNodeSnapshot's nodes copied until the text is several flush windows long (~256 KiB each).
SnapshotPtr BigSnapshot() {
  Snapshot big = TwoNodeSnapshot();
  const std::vector<NodeResult> base(big.nodes.begin(), big.nodes.begin() + 2);
  for (int i = 0; i < 8000; ++i) {
    for (NodeResult n : base) {
      n.node.append("-").append(std::to_string(i));
      for (EntityStats& e : n.summary.entities) e.labels.Set(e.labels.size() - 1, n.node);
      big.nodes.push_back(std::move(n));
    }
  }
  return std::make_shared<Snapshot>(std::move(big));
}

// The gzip body is rendered straight into the compressor in windows; whichever comes first,
// it must inflate to exactly the text body, in both formats.
TEST(Exposition, StreamedGzipIsTheText) {
  SnapshotPtr snap = BigSnapshot();
  for (ExpositionFormat f : {ExpositionFormat::kText004, ExpositionFormat::kOpenMetrics100}) {
    Exposition streamed(snap, {});
    const std::string gz = streamed.GzipBody(f);  // first: no text body exists yet
    const std::string& text = streamed.Body(f);
    EXPECT_GT(text.size(), 4u * (256 << 10));
    EXPECT_EQ(Gunzip(gz), text);
    EXPECT_EQ(text, RenderExposition(*snap, f));
    Exposition prepared(snap, {});
    prepared.Prepare(BodySet::Of(f, false) | BodySet::Of(f, true));  // text, then its gzip
    EXPECT_TRUE(prepared.Ready(f, true));
    EXPECT_TRUE(prepared.Ready(f, false));
    EXPECT_EQ(Gunzip(prepared.GzipBody(f)), text);
  }
}

// A copy of `base` with `change` made to it.
SnapshotPtr Changed(const Snapshot& base, const std::function<void(Snapshot&)>& change) {
  Snapshot s = base;
  change(s);
  return std::make_shared<Snapshot>(std::move(s));
}

// A copy of `snap` in which every container's working set grew by `delta` bytes: of the data
// families, container_memory_working_set_bytes alone changes.
SnapshotPtr WithContainerMemory(const Snapshot& snap, uint64_t delta) {
  const catalog::MetricId id = Id("container_memory_working_set_bytes");
  return Changed(snap, [&](Snapshot& s) {
    for (NodeResult& n : s.nodes) {
      for (EntityStats& e : n.summary.entities) {
        for (Sample& x : e.samples) x.set_u(x.u() + (x.metric == id ? delta : 0));
      }
    }
  });
}

// The gzip body copies, from the previous body of its format, the segments whose content did
// not change, and compresses the others: whatever it copied, it must inflate (zlib checks the
// CRC-32 and the size in the trailer) to exactly the text of its own snapshot.
TEST(Exposition, GzipCopiesTheSegmentsThatDidNotChange) {
  const SnapshotPtr a = BigSnapshot();
  const SnapshotPtr b = WithContainerMemory(*a, 1);
  for (ExpositionFormat f : {ExpositionFormat::kText004, ExpositionFormat::kOpenMetrics100}) {
    std::string first_gz;
    {
      Exposition first(a, {});
      first_gz = first.GzipBody(f);
      EXPECT_TRUE(Gunzip(first_gz) == RenderExposition(*a, f));
    }  // the previous body outlives its Exposition (ASan checks the copy below)
    Exposition second(b, {});
    const std::string& gz = second.GzipBody(f);
    const std::string text = RenderExposition(*b, f);
    EXPECT_TRUE(Gunzip(gz) == text);  // (no EXPECT_EQ: gtest's diff of MBs of text is huge)
    const GzipStats st = second.gzip_stats(f);
    EXPECT_GT(st.segments, 2u);
    EXPECT_GE(st.reused_segments, 1u);              // the families that did not change
    EXPECT_LT(st.reused_segments, st.segments);     // and not the one that did
    EXPECT_EQ(st.text_bytes, text.size());
    EXPECT_GT(st.reused_text_bytes, text.size() / 4);
    EXPECT_LT(st.reused_text_bytes, text.size());
    // Laid end to end, the segments cost little against one deflate stream of the whole text.
    EXPECT_LT(gz.size(), Gzip(text).size() * 11 / 10);

    // Nothing changed: every segment is copied, and the body is the same bytes.
    Exposition third(b, {});
    EXPECT_TRUE(third.GzipBody(f) == gz);
    EXPECT_EQ(third.gzip_stats(f).reused_segments, third.gzip_stats(f).segments);

    // Without reuse every segment is compressed again, to the same text.
    WriterOptions fresh;
    fresh.gzip_reuse = false;
    Exposition fourth(b, fresh);
    EXPECT_TRUE(Gunzip(fourth.GzipBody(f)) == text);
    EXPECT_EQ(fourth.gzip_stats(f).reused_segments, 0u);
    EXPECT_EQ(fourth.gzip_stats(f).text_bytes, text.size());
  }
}

// The first family of `snap`'s text, its values made 19 random digits long: the start of the
// body grows by far more than the slack an in-place body keeps before the old one.
SnapshotPtr WithFirstFamilyGrown(const Snapshot& snap, ExpositionFormat f) {
  const std::string text = RenderExposition(snap, f);
  size_t line = 0;
  while (text[line] == '#') line = text.find('\n', line) + 1;
  const catalog::MetricId id = Id(text.substr(line, text.find_first_of("{ ", line) - line));
  uint64_t x = 88172645463325252ull;
  return Changed(snap, [&](Snapshot& s) {
    for (NodeResult& n : s.nodes) {
      for (EntityStats& e : n.summary.entities) {
        for (Sample& v : e.samples) {
          if (v.metric != id) continue;
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          v.set_u(1000000000000000000ull + x % 8000000000000000000ull);
        }
      }
    }
  });
}

// Once the served gzip body is withdrawn (the poll loop does so before the next render), the
// next body of its format is written over it, in the same buffer: one buffer, not two. What
// it copies must come from old segments it has not written over yet: the text is exact
// whether the body shrinks, stays or grows past its slack.
TEST(Exposition, AWithdrawnGzipBodyIsWrittenOverInPlace) {
  const SnapshotPtr a = BigSnapshot();
  const SnapshotPtr b = WithContainerMemory(*a, 1);
  for (ExpositionFormat f : {ExpositionFormat::kText004, ExpositionFormat::kOpenMetrics100}) {
    // No body asked for: the memos of the last bodies and the idle buffers are let go (earlier
    // tests in this process leave some).
    Exposition(a, {}).Prepare(BodySet{});
    Exposition first(a, {});
    first.Prepare(BodySet::Of(f, true));
    const std::string* buffer = &first.GzipBody(f);
    EXPECT_FALSE(first.gzip_stats(f).in_place) << "no previous body";
    first.WithdrawBodies();
    EXPECT_EQ(first.TryBody(f, true), nullptr) << "a scrape now waits for the next snapshot";
    EXPECT_FALSE(first.Ready(f, true));

    Exposition second(b, {});
    second.Prepare(BodySet::Of(f, true));
    const std::string& gz = second.GzipBody(f);
    EXPECT_EQ(&gz, buffer) << "written over the withdrawn body";
    const std::string text = RenderExposition(*b, f);
    EXPECT_TRUE(Gunzip(gz) == text);
    const GzipStats st = second.gzip_stats(f);
    EXPECT_TRUE(st.in_place);
    EXPECT_GE(st.reused_segments, 1u);
    EXPECT_LT(st.reused_segments, st.segments);

    // Unchanged: every segment copied, in place, to the same bytes.
    const std::string before = gz;
    second.WithdrawBodies();
    Exposition third(b, {});
    EXPECT_TRUE(third.GzipBody(f) == before);
    EXPECT_TRUE(third.gzip_stats(f).in_place);
    EXPECT_EQ(third.gzip_stats(f).reused_segments, third.gzip_stats(f).segments);

    // The first family grows by more than the slack: the old segments it runs over are
    // compressed again instead of copied (fewer than out of place), and the text is exact.
    const SnapshotPtr c = WithFirstFamilyGrown(*b, f);
    const std::string grown_text = RenderExposition(*c, f);
    third.WithdrawBodies();
    Exposition fourth(c, {});
    EXPECT_TRUE(Gunzip(fourth.GzipBody(f)) == grown_text);
    const GzipStats grown = fourth.gzip_stats(f);
    EXPECT_TRUE(grown.in_place);
    EXPECT_GT(fourth.GzipBody(f).size(), before.size() + before.size() / 8 + (64 << 10));
    Exposition again(b, {});  // back to b, out of place (fourth still serves its body)
    again.GzipBody(f);
    Exposition out_of_place(c, {});
    EXPECT_TRUE(Gunzip(out_of_place.GzipBody(f)) == grown_text);
    EXPECT_FALSE(out_of_place.gzip_stats(f).in_place);
    EXPECT_LT(grown.reused_segments, out_of_place.gzip_stats(f).reused_segments);
  }
}

// A withdrawn text body goes back to its pool at once, and the next text body is written into
// its buffer; one that a scrape still sends goes back only once sent.
TEST(Exposition, AWithdrawnTextBodyLendsItsBufferToTheNext) {
  const SnapshotPtr a = BigSnapshot();
  const ExpositionFormat f = ExpositionFormat::kText004;
  const std::string text = RenderExposition(*a, f);
  Exposition(a, {}).Prepare(BodySet{});  // no idle buffer left by earlier tests
  Exposition first(a, {});
  first.Prepare(BodySet::Of(f, false));
  EXPECT_EQ(IdleBodyBuffersForTest(false), 0u);
  const char* buffer = first.Body(f).data();
  first.WithdrawBodies();
  EXPECT_EQ(first.TryBody(f, false), nullptr);
  EXPECT_FALSE(first.Ready(f, false));
  EXPECT_EQ(IdleBodyBuffersForTest(false), 1u);

  Exposition second(a, {});
  second.Prepare(BodySet::Of(f, false));
  EXPECT_EQ(second.Body(f).data(), buffer);
  EXPECT_EQ(IdleBodyBuffersForTest(false), 0u);
  EXPECT_TRUE(second.Body(f) == text);

  std::shared_ptr<const std::string> sending = second.TryBody(f, false);
  second.WithdrawBodies();
  EXPECT_EQ(IdleBodyBuffersForTest(false), 0u) << "still being sent";
  Exposition third(a, {});
  third.Prepare(BodySet::Of(f, false));
  EXPECT_NE(third.Body(f).data(), sending->data());
  EXPECT_TRUE(*sending == text);
  EXPECT_TRUE(third.Body(f) == text);
  sending.reset();
  EXPECT_EQ(IdleBodyBuffersForTest(false), 1u) << "back once sent";
}

// A gzip body that a scrape still sends when the next render starts is not written over: the
// next body takes another buffer, and the one being sent stays as it was.
TEST(Exposition, AGzipBodyStillBeingSentIsNotWrittenOver) {
  const SnapshotPtr a = BigSnapshot();
  const SnapshotPtr b = WithContainerMemory(*a, 1);
  for (ExpositionFormat f : {ExpositionFormat::kText004, ExpositionFormat::kOpenMetrics100}) {
    Exposition first(a, {});
    std::shared_ptr<const std::string> sending = first.TryBody(f, true);
    ASSERT_NE(sending, nullptr);
    const std::string copy = *sending;
    first.WithdrawBodies();
    Exposition second(b, {});
    const std::string& gz = second.GzipBody(f);
    EXPECT_NE(&gz, sending.get());
    EXPECT_FALSE(second.gzip_stats(f).in_place);
    EXPECT_GE(second.gzip_stats(f).reused_segments, 1u) << "copied from the body being sent";
    EXPECT_TRUE(*sending == copy);
    EXPECT_TRUE(Gunzip(gz) == RenderExposition(*b, f));
  }
}

// A large snapshot is written in passes over runs of families, each filing only its own
// families' references: the text is the same whatever the passes, and the gzip body still
// copies the segments that did not change from a body written in other passes.
TEST(Exposition, PassesWriteTheSameText) {
  const SnapshotPtr a = BigSnapshot();
  const SnapshotPtr b = WithContainerMemory(*a, 1);
  for (const bool times : {false, true}) {
    WriterOptions options;
    options.source_timestamps = times;
    for (ExpositionFormat f : {ExpositionFormat::kText004, ExpositionFormat::kOpenMetrics100}) {
      SCOPED_TRACE(static_cast<int>(f) * 2 + times);
      const std::string text_a = RenderExposition(*a, f, options);
      const std::string text_b = RenderExposition(*b, f, options);
      Exposition one_pass(a, options);
      EXPECT_TRUE(Gunzip(one_pass.GzipBody(f)) == text_a);
      EXPECT_EQ(one_pass.gzip_stats(f).passes, 1u);
      WriterOptions in_passes = options;
      in_passes.pass_refs = 5000;
      EXPECT_TRUE(RenderExposition(*a, f, in_passes) == text_a);
      Exposition passes(b, in_passes);
      EXPECT_TRUE(Gunzip(passes.GzipBody(f)) == text_b);
      const GzipStats st = passes.gzip_stats(f);
      // Passes of at most max(5,000, an eighth of the series) lines, or one larger family
      // (three families hold 16,002 lines each): at least 4 passes; any two passes in a row
      // hold more than that: at most 17.
      EXPECT_GE(st.passes, 4u);
      EXPECT_LE(st.passes, 17u);
      EXPECT_GE(st.reused_segments, 1u);
      EXPECT_LT(st.reused_segments, st.segments);
    }
  }
}

// The render scratch kept between renders holds the references of the largest pass, not up
// to twice that (filing pass after pass grew the array by doubling), room for about as many
// entities as the last render had, and for the label sets its passes held at once at most: a
// render of a cluster that shrank gives the rest back by the render after.
TEST(Exposition, TheRenderScratchKeepsRoomForTheLastRenderOnly) {
  const SnapshotPtr big = BigSnapshot();
  const SnapshotPtr small = std::make_shared<Snapshot>(TwoNodeSnapshot());
  const auto within = [](size_t room, size_t used) {
    return room >= used && room <= used + used / 4 + 1024;
  };
  WriterOptions in_passes;
  in_passes.pass_refs = 5000;
  for (int i = 0; i < 2; ++i) RenderExposition(*big, ExpositionFormat::kText004, in_passes);
  RenderScratchRoom room = RenderScratchRoomForTest();
  EXPECT_GT(room.refs_used, 5000u);
  EXPECT_TRUE(within(room.refs, room.refs_used)) << room.refs << " for " << room.refs_used;
  EXPECT_TRUE(within(room.label_chars, room.label_chars_used))
      << room.label_chars << " for " << room.label_chars_used;
  EXPECT_TRUE(within(room.entities, room.entities_used))
      << room.entities << " for " << room.entities_used;
  const size_t big_chars = room.label_chars_used;

  // In one pass the arena holds every entity's label set; in passes, only those of the entities
  // with lines in the current pass or a later one.
  WriterOptions one_pass;
  one_pass.pass_refs = size_t{1} << 30;
  for (int i = 0; i < 2; ++i) RenderExposition(*big, ExpositionFormat::kText004, one_pass);
  const size_t all_chars = RenderScratchRoomForTest().label_chars_used;
  EXPECT_LT(big_chars * 10, all_chars * 9) << big_chars << " in passes, " << all_chars << " in one";

  for (int i = 0; i < 2; ++i) RenderExposition(*small, ExpositionFormat::kText004, in_passes);
  room = RenderScratchRoomForTest();
  EXPECT_LT(room.label_chars_used * 100, big_chars);
  EXPECT_TRUE(within(room.refs, room.refs_used)) << room.refs << " for " << room.refs_used;
  EXPECT_TRUE(within(room.label_chars, room.label_chars_used))
      << room.label_chars << " for " << room.label_chars_used;
  EXPECT_TRUE(within(room.entities, room.entities_used))
      << room.entities << " for " << room.entities_used;
}

// A gzip body the poll loop no longer prepares (its scrapers went away) is not kept for its
// segments: the next body of that format is compressed whole.
TEST(Exposition, AGzipBodyNoLongerAskedForIsNotKept) {
  const SnapshotPtr snap = BigSnapshot();
  using F = ExpositionFormat;
  Exposition(snap, {}).GzipBody(F::kText004);  // a one-off scrape of text with gzip
  Exposition kept(snap, {});
  EXPECT_EQ(kept.gzip_stats(F::kText004).segments, 0u);  // not made yet
  kept.Prepare(BodySet::Of(F::kText004, true));
  EXPECT_EQ(kept.gzip_stats(F::kText004).reused_segments, kept.gzip_stats(F::kText004).segments);
  Exposition(snap, {}).Prepare(BodySet::PrometheusDefault());  // OpenMetrics gzip alone
  Exposition later(snap, {});
  EXPECT_TRUE(Gunzip(later.GzipBody(F::kText004)) == RenderExposition(*snap, F::kText004));
  EXPECT_GT(later.gzip_stats(F::kText004).segments, 2u);
  EXPECT_EQ(later.gzip_stats(F::kText004).reused_segments, 0u);
}

// The pools keep one idle buffer per body the poll loop prepares, however many bodies were
// alive at once: each holds its largest output resident (~70 MB of gzip at 1,000 nodes).
TEST(Exposition, OneIdleBodyBufferPerPreparedBody) {
  const SnapshotPtr snap = BigSnapshot();
  const BodySet both = BodySet::Of(ExpositionFormat::kOpenMetrics100, true) |
                       BodySet::Of(ExpositionFormat::kOpenMetrics100, false);
  {
    // A render while the body before last is still held: three bodies of each kind at once.
    std::vector<std::unique_ptr<Exposition>> alive;
    for (int i = 0; i < 3; ++i) {
      alive.push_back(std::make_unique<Exposition>(snap, WriterOptions{}));
      alive.back()->Prepare(both);
    }
    alive.clear();
  }
  EXPECT_EQ(IdleBodyBuffersForTest(true), 1u);
  EXPECT_EQ(IdleBodyBuffersForTest(false), 1u);
  // Uncompressed scrapers gone: no idle text body. The last gzip body, held by no one now, is
  // written over in place: no idle gzip buffer either.
  Exposition next(snap, {});
  next.Prepare(BodySet::PrometheusDefault());
  EXPECT_TRUE(next.gzip_stats(ExpositionFormat::kOpenMetrics100).in_place);
  EXPECT_EQ(IdleBodyBuffersForTest(false), 0u);
  EXPECT_EQ(IdleBodyBuffersForTest(true), 0u);
}

// Every input of a line reaches the segment keys: a changed label value, value kind, sample
// time (with --timestamps=source), self-metric or option gives other text, and a copied
// segment must never stand in for it.
TEST(Exposition, EveryInputOfALineChangesItsSegmentKey) {
  const SnapshotPtr base = BigSnapshot();
  auto variant = [&](const std::function<void(Snapshot&)>& change) {
    return Changed(*base, change);
  };
  const catalog::MetricId cpu = Id("node_cpu_usage_seconds_total");
  const std::vector<SnapshotPtr> variants = {
      variant([](Snapshot& s) { s.nodes[5].summary.entities[1].labels.Set(2, "c2"); }),
      variant([&](Snapshot& s) {  // the same 64 bits read as a double
        for (Sample& x : s.nodes[7].summary.entities[0].samples) {
          if (x.metric == cpu) x.kind = ValueKind::kDouble;
        }
      }),
      variant([](Snapshot& s) { s.nodes[9].summary.entities[0].samples[0].time_offset_s += 1; }),
      variant([](Snapshot& s) { s.polls_total += 1; }),
      variant([](Snapshot& s) { s.nodes[11].summary.entities[1].extra_labels = {{"image", "x"}}; }),
  };
  for (ExpositionFormat f : {ExpositionFormat::kText004, ExpositionFormat::kOpenMetrics100}) {
    for (bool times : {false, true}) {
      for (bool uid : {false, true}) {
        WriterOptions o;
        o.source_timestamps = times;
        o.uid_label = uid;
        Exposition(base, o).GzipBody(f);  // the previous body
        for (const SnapshotPtr& v : variants) {
          Exposition e(v, o);
          EXPECT_TRUE(Gunzip(e.GzipBody(f)) == RenderExposition(*v, f, o))
              << "variant " << (&v - variants.data()) << ", times " << times << ", uid " << uid;
          Exposition(base, o).GzipBody(f);  // back to the base as the previous body
        }
      }
    }
  }
}

// Two renders of one snapshot (streamed gzip, then the text) count its dropped series once.
TEST(Exposition, TwoRendersCountDropsOnce) {
  SeriesFilterOptions fo;
  fo.series_limit = 3;
  std::string error;
  WriterOptions o;
  o.filter = SeriesFilter::Create(fo, &error);
  ASSERT_TRUE(o.filter) << error;
  SnapshotPtr snap = BigSnapshot();
  auto dropped = [](const std::string& text) {
    const std::string key = "kube_metrics_bridge_series_dropped_total{reason=\"series_limit\"} ";
    const size_t at = text.find(key);
    return at == std::string::npos
               ? std::string("absent")
               : text.substr(at + key.size(), text.find('\n', at) - at - key.size());
  };
  Exposition first(snap, o);
  first.Prepare(BodySet::Of(ExpositionFormat::kText004, true));
  const std::string once = dropped(Gunzip(first.GzipBody(ExpositionFormat::kText004)));
  EXPECT_EQ(dropped(first.Body(ExpositionFormat::kText004)), once);
  Exposition second(snap, o);
  const uint64_t per_snapshot = std::stoull(once);
  EXPECT_GT(per_snapshot, 0u);
  EXPECT_EQ(dropped(second.Body(ExpositionFormat::kText004)), std::to_string(2 * per_snapshot));
}

// A line longer than the render window (a pod annotation of 600 KB, escaped) is written whole,
// between the lines around it, in the text and in the streamed gzip alike.
TEST(Exposition, ALineLongerThanTheWindowIsWrittenWhole) {
  Snapshot snap = TwoNodeSnapshot();
  std::string huge(600 << 10, 'a');
  huge[1000] = '"';  // escaped: the line grows while it is written
  EntityStats& c = snap.nodes[0].summary.entities[1];
  c.extra_labels.emplace_back("annotation_huge", huge);
  auto ptr = std::make_shared<Snapshot>(snap);
  const std::string text = RenderExposition(*ptr, ExpositionFormat::kText004);
  std::string escaped = huge;
  escaped.replace(1000, 1, "\\\"");
  const std::string line =
      "container_memory_working_set_bytes{namespace=\"ns\",pod=\"pod\\\"x\","
      "container=\"c1\",node=\"n1\",annotation_huge=\"" +
      escaped + "\"} 77\n";
  const size_t at = text.find(line);
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(text[at - 1], '\n');
  EXPECT_NE(text.find("node=\"n2\"} 77\n", at + line.size()), std::string::npos);
  Exposition exp(ptr, {});
  EXPECT_EQ(Gunzip(exp.GzipBody(ExpositionFormat::kText004)), text);
}

// The poll loop prepares what scrapers asked for: Prometheus' OpenMetrics gzip body alone, not
// a text 0.0.4 body nobody reads (two renders per poll), and the text only while it is asked.
TEST(Exposition, PreparesTheBodiesScrapersAskedFor) {
  using F = ExpositionFormat;
  SnapshotPtr snap = BigSnapshot();
  BodySet last;
  // No scrape yet: what Prometheus asks for.
  Exposition first(snap, {});
  first.Prepare(BodiesToPrepare(BodySet(), &last));
  EXPECT_TRUE(first.Ready(F::kOpenMetrics100, true));
  EXPECT_FALSE(first.Ready(F::kOpenMetrics100, false));
  EXPECT_FALSE(first.Ready(F::kText004, true));
  EXPECT_FALSE(first.Ready(F::kText004, false));
  // A curl without --compressed beside Prometheus: OpenMetrics gzip and the text 0.0.4 body.
  const BodySet both = BodySet::Of(F::kOpenMetrics100, true) | BodySet::Of(F::kText004, false);
  Exposition second(snap, {});
  second.Prepare(BodiesToPrepare(both, &last));
  EXPECT_TRUE(second.Ready(F::kOpenMetrics100, true));
  EXPECT_TRUE(second.Ready(F::kText004, false));
  EXPECT_FALSE(second.Ready(F::kText004, true));
  EXPECT_FALSE(second.Ready(F::kOpenMetrics100, false));
  EXPECT_EQ(second.Body(F::kText004), RenderExposition(*snap, F::kText004));
  // An interval without scrapes: the gzip bodies last asked for, no idle text.
  Exposition third(snap, {});
  third.Prepare(BodiesToPrepare(BodySet(), &last));
  EXPECT_TRUE(third.Ready(F::kOpenMetrics100, true));
  EXPECT_FALSE(third.Ready(F::kText004, false));
  EXPECT_EQ(last, both);
  // A scraper of text 0.0.4 gzip only (the scale driver, older Prometheus).
  Exposition fourth(snap, {});
  fourth.Prepare(BodiesToPrepare(BodySet::Of(F::kText004, true), &last));
  EXPECT_TRUE(fourth.Ready(F::kText004, true));
  EXPECT_FALSE(fourth.Ready(F::kOpenMetrics100, true));
  EXPECT_EQ(Gunzip(fourth.GzipBody(F::kText004)), RenderExposition(*snap, F::kText004));
}

// When the next poll starts, the poll loop releases the published snapshot: the prepared
// bodies are still served, the snapshot's memory is freed (for the new poll to reuse), and a
// body that was not rendered cannot be any more.
TEST(Exposition, ReleasedSnapshotKeepsItsPreparedBodiesOnly) {
  using F = ExpositionFormat;
  SnapshotPtr snap = BigSnapshot();
  const std::string om = RenderExposition(*snap, F::kOpenMetrics100);
  const std::string text = RenderExposition(*snap, F::kText004);
  std::weak_ptr<const Snapshot> watch = snap;
  Exposition exp(std::move(snap), {});
  exp.Prepare(BodySet::PrometheusDefault() | BodySet::Of(F::kText004, false));
  ASSERT_NE(exp.snapshot(), nullptr);
  exp.ReleaseData();
  EXPECT_EQ(exp.snapshot(), nullptr);
  EXPECT_TRUE(watch.expired()) << "the Exposition held the last reference";
  auto gz = exp.TryBody(F::kOpenMetrics100, true);
  ASSERT_NE(gz, nullptr);
  EXPECT_EQ(Gunzip(*gz), om);
  auto plain = exp.TryBody(F::kText004, false);
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(*plain, text);
  // The gzip of a text body that exists needs no snapshot.
  auto text_gz = exp.TryBody(F::kText004, true);
  ASSERT_NE(text_gz, nullptr);
  EXPECT_EQ(Gunzip(*text_gz), text);
  // Never rendered: gone, and it stays gone (the once flag was not spent on an empty body).
  EXPECT_EQ(exp.TryBody(F::kOpenMetrics100, false), nullptr);
  EXPECT_EQ(exp.TryBody(F::kOpenMetrics100, false), nullptr);
  EXPECT_FALSE(exp.Ready(F::kOpenMetrics100, false));
  EXPECT_EQ(exp.Body(F::kOpenMetrics100), "");
  exp.Prepare(BodySet::Of(F::kOpenMetrics100, false));  // nothing to render from: no effect
  EXPECT_FALSE(exp.Ready(F::kOpenMetrics100, false));
}

// A render in progress keeps the snapshot alive through a release that comes meanwhile (under
// ASan a use after free would show here). Tried until the release lands inside a render.
TEST(Exposition, ReleaseDuringARenderLosesNothing) {
  using F = ExpositionFormat;
  SnapshotPtr snap = BigSnapshot();
  const std::string text = RenderExposition(*snap, F::kText004);
  bool inside = false;
  for (int attempt = 0; attempt < 20 && !inside; ++attempt) {
    Exposition exp(std::make_shared<const Snapshot>(*snap), {});  // its only reference
    std::atomic<bool> released{false};
    std::thread release([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      exp.ReleaseData();
      released = true;
    });
    auto body = exp.TryBody(F::kText004, false);
    const bool released_before_the_render_ended = released;
    release.join();
    EXPECT_EQ(exp.snapshot(), nullptr);
    if (body == nullptr) continue;  // the release came before the render began
    EXPECT_EQ(*body, text);
    inside = released_before_the_render_ended;
  }
  EXPECT_TRUE(inside) << "no release landed inside a render in 20 tries";
}

}  // namespace
}  // namespace kmb

namespace kmb {
namespace {

int RowOf(catalog::Entity e, std::string_view path) { return catalog::Find(e, path); }

Snapshot InterfaceSnapshot() {
  Snapshot s;
  s.summary.enabled = true;
  NodeResult r;
  r.node = "n1";
  EntityStats i;
  i.entity = catalog::Entity::kNodeInterface;
  i.labels = {"n1", "eth0"};
  i.samples.push_back(Sample::Uint(RowOf(i.entity, "rxBytes"), 10));
  i.samples.push_back(Sample::Uint(RowOf(i.entity, "txBytes"), 20));
  r.summary.entities.push_back(i);
  EntityStats c;
  c.entity = catalog::Entity::kContainer;
  c.labels = {"ns", "p", "c", "n1", "uid-1"};
  c.samples.push_back(Sample::Uint(RowOf(c.entity, "memory.pageFaults"), 5));
  c.samples.push_back(Sample::Uint(RowOf(c.entity, "memory.majorPageFaults"), 1));
  c.samples.push_back(Sample::Double(RowOf(c.entity, "cpu.psi.some.avg10"), 12.5));
  r.summary.entities.push_back(c);
  EntityStats v;
  v.entity = catalog::Entity::kVolume;
  v.labels = {"ns", "p", "config", "", "n1", "uid-1"};  // not PVC-backed
  v.samples.push_back(Sample::Uint(RowOf(v.entity, "usedBytes"), 4096));
  r.summary.entities.push_back(v);
  s.nodes.push_back(r);
  return s;
}

TEST(Writer, RowsSharingANameAreOneFamilyWithConstLabels) {
  std::string text = RenderExposition(InterfaceSnapshot(), ExpositionFormat::kText004);
  EXPECT_NE(text.find("# TYPE k8s_node_network_io_bytes_total counter\n"
                      "k8s_node_network_io_bytes_total{node=\"n1\",interface=\"eth0\","
                      "direction=\"receive\"} 10\n"
                      "k8s_node_network_io_bytes_total{node=\"n1\",interface=\"eth0\","
                      "direction=\"transmit\"} 20\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("container_memory_failures_total{namespace=\"ns\",pod=\"p\","
                "container=\"c\",node=\"n1\",failure_type=\"pgfault\",scope=\"container\"} 5\n"
                "container_memory_failures_total{namespace=\"ns\",pod=\"p\",container=\"c\","
                "node=\"n1\",failure_type=\"pgmajfault\",scope=\"container\"} 1\n"),
      std::string::npos)
      << text;
  size_t headers = 0;
  for (size_t p = 0;
       (p = text.find("# TYPE container_memory_failures_total ", p)) != std::string::npos; ++p) {
    ++headers;
  }
  EXPECT_EQ(headers, 1u);
}

TEST(Writer, EmptyLabelsUidAndGroups) {
  std::string text = RenderExposition(InterfaceSnapshot(), ExpositionFormat::kText004);
  // An empty persistentvolumeclaim is left out; uid only on request.
  EXPECT_NE(text.find("k8s_volume_used_bytes{namespace=\"ns\",pod=\"p\",volume=\"config\","
                      "node=\"n1\"} 4096\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("uid="), std::string::npos);
  // psi-avg is off by default.
  EXPECT_EQ(text.find("pressure_avg_ratio"), std::string::npos);

  WriterOptions o;
  o.uid_label = true;
  o.metric_groups = {"network", "psi-avg", "self"};
  text = RenderExposition(InterfaceSnapshot(), ExpositionFormat::kText004, o);
  EXPECT_NE(text.find("k8s_node_network_io_bytes_total{"), std::string::npos);
  EXPECT_EQ(text.find("k8s_volume_used_bytes"), std::string::npos);
  EXPECT_EQ(text.find("container_memory_failures_total"), std::string::npos);
  // Percent scaled to a ratio; uid present.
  EXPECT_NE(text.find("k8s_container_pressure_avg_ratio{namespace=\"ns\",pod=\"p\","
                      "container=\"c\",node=\"n1\",uid=\"uid-1\",resource=\"cpu\",kind=\"some\","
                      "window=\"10s\"} 0.125\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("kube_metrics_bridge_build_info{"), std::string::npos);
}

}  // namespace
}  // namespace kmb

namespace kmb {
namespace {

TEST(Gzip, GrowsForIncompressibleInput) {
  // Random bytes barely compress: the output must outgrow its first guess (size / 8).
  std::string data(1 << 20, '\0');
  uint64_t x = 88172645463325252ULL;
  for (char& c : data) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  std::string gz = Gzip(data);
  EXPECT_GT(gz.size(), data.size() / 8);
  EXPECT_EQ(Gunzip(gz), data);
  EXPECT_EQ(Gunzip(Gzip("")), "");
}

}  // namespace
}  // namespace kmb
