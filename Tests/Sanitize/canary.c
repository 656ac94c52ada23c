/* canary.c - a deliberate bug for each sanitizer, so that scripts/sanitize
 * can show its reports really are caught and collected before it trusts an
 * empty report directory.
 *
 *   canary address   one byte written past a heap block (AddressSanitizer)
 *   canary thread    two threads write one variable without a lock
 *                    (ThreadSanitizer)
 *
 * Built with -fsanitize=KIND -shared-libsan, so it uses the same shared
 * runtime the sanitized libraries are run with.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int shared;

static void *writer(void *arg)
{
    (void) arg;
    shared++;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "address") == 0) {
        volatile char *p = malloc(8);
        p[8] = 1;
        free((void *) p);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "thread") == 0) {
        pthread_t a, b;
        pthread_create(&a, NULL, writer, NULL);
        pthread_create(&b, NULL, writer, NULL);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        return 0;
    }
    return 2;
}
