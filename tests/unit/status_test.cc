#include "omendb/status.h"

#include <gtest/gtest.h>

#include <memory>

#include "omendb/types.h"

namespace omendb {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  OMENDB_ASSIGN_OR_RETURN(int h, Half(x));
  OMENDB_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status Check(int x) {
  OMENDB_RETURN_IF_ERROR(Half(x).status());
  return Status::OK();
}

TEST(StatusTest, OkAndErrors) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.ToString(), "OK");
  Status e = Status::Corruption("bad block");
  EXPECT_FALSE(e.ok());
  EXPECT_TRUE(e.IsCorruption());
  EXPECT_EQ(e.ToString(), "corruption: bad block");
  EXPECT_EQ(e.WithContext("000001.wal").ToString(), "corruption: 000001.wal: bad block");
  EXPECT_TRUE(Status::OK().WithContext("x").ok());
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_TRUE(Quarter(6).status().IsInvalidArgument());
  EXPECT_TRUE(Check(2).ok());
  EXPECT_TRUE(Check(3).IsInvalidArgument());
  Result<std::unique_ptr<int>> r(std::make_unique<int>(5));
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 5);
  Result<int> bad{Status::OK()};  // an OK status cannot make a value
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
}

TEST(StatusTest, MetricNames) {
  EXPECT_EQ(*ParseMetric("l2"), Metric::kL2);
  EXPECT_EQ(*ParseMetric("ip"), Metric::kInnerProduct);
  EXPECT_EQ(*ParseMetric("cosine"), Metric::kCosine);
  EXPECT_TRUE(ParseMetric("hamming").status().IsInvalidArgument());
  for (Metric m : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
    EXPECT_EQ(*ParseMetric(MetricName(m)), m);
  }
}

}  // namespace
}  // namespace omendb
