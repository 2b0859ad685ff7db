#pragma once
// Returning an error through boost::system::result<T, std::string>: its implicit constructors are
// ambiguous when T can itself be built from a string (or is an aggregate whose first member is one),
// so errors go through this explicit conversion: `return rty::failure{"file: what is wrong"};`.
#include <boost/system/result.hpp>

#include <string>
#include <utility>

namespace rty {

struct failure {
  std::string message;
  // A constructor rather than an aggregate: clang 14 (the fuzz build) has no parenthesised aggregate
  // initialisation, and callers write both failure{...} and failure(...).
  explicit failure(std::string m) : message(std::move(m)) {}
  template <class T>
  operator boost::system::result<T, std::string>() const {
    return boost::system::result<T, std::string>(boost::system::in_place_error, message);
  }
};

}  // namespace rty
