/*
 * csystem.c - the C library functions the libraries provide themselves.
 *
 * ceil(): the Swift standard library's hash tables size themselves with it.
 * It is libm's, and loading libm into every process that loads us would cost
 * each exec ~40 us; this one is local to each library (the version scripts
 * export nothing but the libwrap API). Exact for every double: values of
 * 2^52 and more, infinities and NaN are integral already.
 *
 * csystem_pipe_cloexec(): pipe2(), which glibc declares for _GNU_SOURCE
 * only (the header must not define it; see csystem.h).
 */
#define _GNU_SOURCE 1
#include "csystem.h"

int csystem_pipe_cloexec(int fds[2])
{
    return pipe2(fds, O_CLOEXEC);
}

double ceil(double x)
{
    double t;

    if (!(x > -4503599627370496.0 && x < 4503599627370496.0))  /* |x| >= 2^52, or NaN */
        return x;
    t = (double) (long long) x;  /* truncated toward zero */
    if (t < x)
        t += 1.0;
    if (t == 0.0 && x < 0)
        return -0.0;
    return t;
}
