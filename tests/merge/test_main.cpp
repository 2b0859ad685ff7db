#define BOOST_TEST_MODULE merge
#include <boost/test/unit_test.hpp>
