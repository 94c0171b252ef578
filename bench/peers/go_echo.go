// go_echo: what a Go user writes for an echo server - one goroutine per connection and
// io.Copy. A peer in bench/ (issue 15); built by bench.py with Debian's golang-go, standard
// library only, no modules. The harness runs it with GOMAXPROCS=1 and pins it to the server
// CPU like every other server.
//
// Usage: go_echo [-port N] [-host A.B.C.D]; prints "port N" once listening.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

func main() {
	port := flag.Int("port", 0, "TCP port (0: ephemeral)")
	host := flag.String("host", "127.0.0.1", "address to bind")
	flag.Parse()
	ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", *host, *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	for {
		c, err := ln.Accept()
		if err != nil {
			time.Sleep(5 * time.Millisecond) // EMFILE and friends: back off like net/http
			continue
		}
		// TCP_NODELAY is Go's default. io.Copy between two TCP conns uses splice(2) through
		// a pipe pair it holds while waiting: 3 descriptors per connection, not 1.
		go func(c net.Conn) {
			defer c.Close()
			io.Copy(c, c)
		}(c)
	}
}
