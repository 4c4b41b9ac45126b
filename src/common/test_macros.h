// gtest assertions for arrow::Status and arrow::Result, shared by every test binary.
#pragma once

#include <gtest/gtest.h>

#define ASSERT_OK(expr)                      \
  do {                                       \
    auto _st = (expr);                       \
    ASSERT_TRUE(_st.ok()) << _st.ToString(); \
  } while (0)

#define EXPECT_OK(expr)                      \
  do {                                       \
    auto _st = (expr);                       \
    EXPECT_TRUE(_st.ok()) << _st.ToString(); \
  } while (0)

#define FLOWSQL_TEST_CONCAT_(a, b) a##b
#define FLOWSQL_TEST_CONCAT(a, b) FLOWSQL_TEST_CONCAT_(a, b)
/// ASSERT_OK_AND_ASSIGN(auto x, MakeX()): asserts the Result is ok and assigns its value.
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL(FLOWSQL_TEST_CONCAT(_res_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL(res, lhs, rexpr)  \
  auto&& res = (rexpr);                             \
  ASSERT_TRUE(res.ok()) << res.status().ToString(); \
  lhs = std::move(*res)
