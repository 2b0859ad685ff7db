#define BOOST_TEST_MODULE bookkeeping
#include <boost/test/unit_test.hpp>
