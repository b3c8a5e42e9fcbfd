// uring_accept: a TCP server that accepts with io_uring (liburing), for
// trace's tests. It listens on 127.0.0.1 (an ephemeral port, listen backlog
// 64), prints the port, and accepts forever, keeping every connection open:
// "single" submits one IORING_OP_ACCEPT at a time, "multi" one multishot
// accept. After a failed accept (EMFILE under a low RLIMIT_NOFILE) it waits
// 5ms and submits again.
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void arm(struct io_uring *ring, int fd, int multi)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (multi)
		io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, 0);
	else
		io_uring_prep_accept(sqe, fd, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, 42);
	io_uring_submit(ring);
}

int main(int argc, char **argv)
{
	int multi = argc > 1 && strcmp(argv[1], "multi") == 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&a, &alen)) {
		perror("listen");
		return 1;
	}
	struct io_uring ring;
	int err = io_uring_queue_init(64, &ring, 0);
	if (err) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-err));
		return 1;
	}
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);
	arm(&ring, fd, multi);
	for (;;) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&ring, &cqe))
			continue;
		int res = cqe->res, more = cqe->flags & IORING_CQE_F_MORE;
		io_uring_cqe_seen(&ring, cqe);
		if (res < 0)
			usleep(5000);
		if (!multi || !more)
			arm(&ring, fd, multi);
	}
}
