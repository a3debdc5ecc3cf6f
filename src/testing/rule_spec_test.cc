#include "testing/rule_spec.h"

#include <gtest/gtest.h>

namespace meshraid::testing {
namespace {

TEST(RuleSpecTest, ParsesAFullFaultRule) {
  auto r = ParseFaultRule(
      "ops=read+write,action=hang-after,offset=4K,length=64K,error=ENOSPC,count=3,skip=1,p=0.5,"
      "trigger=/tmp/x");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ops, Op::kRead | Op::kWrite);
  EXPECT_EQ(r->action, FaultAction::kHangAfter);
  EXPECT_EQ(r->offset, 4096u);
  EXPECT_EQ(r->length, 65536u);
  EXPECT_EQ(r->error, ENOSPC);
  EXPECT_EQ(r->count, 3u);
  EXPECT_EQ(r->skip, 1u);
  EXPECT_EQ(r->probability, 0.5);
  EXPECT_EQ(r->trigger_file, "/tmp/x");
}

TEST(RuleSpecTest, UnsetKeysKeepDefaults) {
  auto r = ParseFaultRule("ops=flush,error=5");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ops, Op::kFlush);
  EXPECT_EQ(r->error, 5);
  EXPECT_EQ(r->length, ByteRange::kToEnd);
  EXPECT_EQ(r->action, FaultAction::kFail);
}

TEST(RuleSpecTest, RejectsBadFaultRules) {
  for (const char* bad : {"", "ops", "ops=reed", "action=explode", "error=EWHAT", "error=-1",
                          "count=x", "p=1.5", "offset=12Q", "colour=blue", "trigger="}) {
    EXPECT_EQ(ParseFaultRule(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(RuleSpecTest, ParsesLatencies) {
  Rng rng(1);
  EXPECT_EQ(ParseLatency("250us")->SampleNs(rng), 250'000u);
  EXPECT_EQ(ParseLatency("fixed:2ms")->SampleNs(rng), 2'000'000u);
  EXPECT_EQ(ParseLatency("0")->SampleNs(rng), 0u);
  EXPECT_EQ(ParseLatency("1s")->SampleNs(rng), 1'000'000'000u);
  const uint64_t u = ParseLatency("uniform:100us-900us")->SampleNs(rng);
  EXPECT_GE(u, 100'000u);
  EXPECT_LE(u, 900'000u);
  EXPECT_TRUE(ParseLatency("exp:100us").ok());
  for (const char* bad : {"", "5", "5xs", "uniform:9ms-1ms", "uniform:1ms", "exp:", "fixed:ms"}) {
    EXPECT_FALSE(ParseLatency(bad).ok()) << bad;
  }
}

TEST(RuleSpecTest, ParsesPerOpDelays) {
  auto d = ParseDelays("read=exp:100us,write+flush=3ms");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].first, Op::kRead);
  EXPECT_EQ((*d)[1].first, Op::kWrite | Op::kFlush);
  Rng rng(1);
  EXPECT_EQ((*d)[1].second.SampleNs(rng), 3'000'000u);
  EXPECT_FALSE(ParseDelays("read").ok());
  EXPECT_FALSE(ParseDelays("read=fast").ok());
}

}  // namespace
}  // namespace meshraid::testing
