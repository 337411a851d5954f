/* url-floor SECONDS PORT...: the least CPU any URL checker can spend at rest, for
 * bench/mttr.sh. Once a second, for SECONDS seconds, one GET /health to each
 * 127.0.0.1:PORT, each on a fresh TCP connection (as every look must be when the server
 * closes its connections, as busybox httpd does), bounded by 1 s timeouts (a checker
 * must bound its wait), read to its end and closed: no parsing, no threads, no
 * allocation. Loopback only, by construction. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  static const char request[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  char buffer[16384];
  struct timespec next;
  if (argc < 3) return 2;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (long second = 0; second < atol(argv[1]); second++) {
    for (int i = 2; i < argc; i++) {
      struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[i]))};
      struct timeval bound = {.tv_sec = 1};
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return 1;
      /* SO_SNDTIMEO bounds the connect too. */
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd, (struct sockaddr *)&to, sizeof to) == 0 && send(fd, request, sizeof request - 1, MSG_NOSIGNAL) > 0)
        while (recv(fd, buffer, sizeof buffer, 0) > 0) {
        }
      close(fd);
    }
    next.tv_sec += 1;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
  return 0;
}
