// Command forwarder is the benchmark's baseline: a TCP forwarder that
// copies bytes both ways and understands nothing, with one goroutine pair
// per connection. luaproxy's overhead is judged against it, since any
// proxy pays at least this much.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to accept clients on")
	target := flag.String("target", "", "address to forward to (host:port)")
	flag.Parse()
	if *target == "" {
		fmt.Fprintln(os.Stderr, "forwarder: -target is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("forwarder: %v", err)
	}
	fmt.Println(ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatalf("forwarder: accept: %v", err)
		}
		go forward(c, *target)
	}
}

// forward connects c to target and copies in both directions until both
// sides are done.
func forward(c net.Conn, target string) {
	defer c.Close()
	u, err := net.Dial("tcp", target)
	if err != nil {
		log.Printf("forwarder: dial %s: %v", target, err)
		return
	}
	defer u.Close()
	done := make(chan struct{})
	go func() {
		copyThenClose(u, c)
		close(done)
	}()
	copyThenClose(c, u)
	<-done
}

// copyThenClose copies src to dst and then half-closes dst, so that the far
// side sees the end of the stream.
func copyThenClose(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil && !errors.Is(err, net.ErrClosed) {
		_ = src.Close()
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		_ = dst.Close()
	}
}
