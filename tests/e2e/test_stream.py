"""gRPC streaming inference (ModelStreamInfer) end to end with grpcio: responses come in
request order carrying each request's id; a bad request in the middle gets its error in
`error_message` and the stream goes on; the stream ends OK once the client half-closes
and every response is written; a client cancel ends it with CANCELLED and the server keeps
serving; a streamed request may use shared memory like a unary one."""

import queue
import threading
import unittest
from multiprocessing import shared_memory

import numpy as np

try:
    import grpc
except ImportError:  # stubs() skips the tests with the package to install
    grpc = None

from test_grpc import GrpcTestCase, decode_bytes_tensor, example_image, expected_labels


class StreamTest(GrpcTestCase):
    models = ("fashion_cnn", "simple")

    def simple(self, i: int, model: str = "simple"):
        req = self.simple_request(np.arange(16) * i, np.ones(16), raw=True,
                                  request_id=f"req-{i}")
        req.model_name = model
        return req

    def test_responses_come_in_order_with_their_ids(self):
        n = 50
        responses = list(self.stub.ModelStreamInfer(iter([self.simple(i) for i in range(n)]),
                                                    timeout=60))
        self.assertEqual(len(responses), n)
        for i, r in enumerate(responses):
            self.assertEqual(r.error_message, "")
            self.assertEqual(r.infer_response.id, f"req-{i}")
            self.assertEqual(r.infer_response.model_name, "simple")
            out = self.output_array(r.infer_response, "OUTPUT0", "<i4")
            np.testing.assert_array_equal(out[0], np.arange(16) * i + 1)

    def test_an_error_stays_in_its_response_and_the_stream_goes_on(self):
        requests = [self.simple(0), self.simple(1, model="no_such_model"), self.simple(2)]
        bad_shape = self.simple(3)
        bad_shape.raw_input_contents[0] = b"\0" * 8
        requests.append(bad_shape)
        requests.append(self.simple(4))
        responses = list(self.stub.ModelStreamInfer(iter(requests), timeout=60))
        self.assertEqual([r.infer_response.id for r in responses],
                         [f"req-{i}" for i in range(5)])
        self.assertIn("no_such_model", responses[1].error_message)
        self.assertEqual(len(responses[1].infer_response.outputs), 0)
        self.assertIn("raw_input_contents[0]", responses[3].error_message)
        for i in (0, 2, 4):
            self.assertEqual(responses[i].error_message, "")
            self.assertEqual(len(responses[i].infer_response.outputs), 2)

    def test_interleaved_writes_and_reads_and_half_close(self):
        """One request at a time, each answered before the next is sent: the stream stays
        open between them and ends OK at half-close."""
        outgoing = queue.Queue()

        def requests():
            while True:
                item = outgoing.get()
                if item is None:
                    return
                yield item

        call = self.stub.ModelStreamInfer(requests(), timeout=60)
        for i in range(5):
            outgoing.put(self.simple(i))
            r = next(call)
            self.assertEqual(r.infer_response.id, f"req-{i}")
        # A real image model in the same stream, with classification.
        outgoing.put(self.image_request(example_image(), request_id="img", classification=1))
        r = next(call)
        self.assertEqual(r.error_message, "")
        self.assertEqual(r.infer_response.id, "img")
        outgoing.put(None)  # half-close
        self.assertEqual(list(call), [])
        self.assertEqual(call.code(), grpc.StatusCode.OK)

    def test_client_cancel_ends_the_stream_and_the_server_keeps_serving(self):
        for _ in range(3):
            stop = threading.Event()

            def requests():
                i = 0
                while not stop.is_set() and i < 10_000:
                    yield self.simple(i)
                    i += 1

            call = self.stub.ModelStreamInfer(requests(), timeout=60)
            first = next(call)
            self.assertEqual(first.infer_response.id, "req-0")
            call.cancel()
            stop.set()
            with self.assertRaises(grpc.RpcError) as ctx:
                for _ in call:
                    pass
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.CANCELLED)
        self.assertGrpcAnswers()

    def test_an_empty_stream_ends_ok(self):
        call = self.stub.ModelStreamInfer(iter([]), timeout=30)
        self.assertEqual(list(call), [])
        self.assertEqual(call.code(), grpc.StatusCode.OK)

    def test_shared_memory_inputs_and_outputs_over_a_stream(self):
        shm = shared_memory.SharedMemory(create=True, size=4 * 64)
        try:
            view = np.ndarray((4, 16), dtype=np.int32, buffer=shm.buf)
            view[0], view[1], view[2:] = np.arange(16), 5, -1
            self.stub.SystemSharedMemoryRegister(self.pb.SystemSharedMemoryRegisterRequest(
                name="stream_region", key="/" + shm.name, offset=0, byte_size=4 * 64), timeout=10)
            req = self.pb.ModelInferRequest(model_name="simple", id="shm")
            for i, name in enumerate(("INPUT0", "INPUT1")):
                t = req.inputs.add(name=name, datatype="INT32", shape=[1, 16])
                t.parameters["shared_memory_region"].string_param = "stream_region"
                t.parameters["shared_memory_offset"].int64_param = 64 * i
                t.parameters["shared_memory_byte_size"].int64_param = 64
            out = req.outputs.add(name="OUTPUT0")
            out.parameters["shared_memory_region"].string_param = "stream_region"
            out.parameters["shared_memory_offset"].int64_param = 128
            out.parameters["shared_memory_byte_size"].int64_param = 64
            bad = self.pb.ModelInferRequest()
            bad.CopyFrom(req)
            bad.id = "bad"
            bad.inputs[0].parameters["shared_memory_offset"].int64_param = 240
            responses = list(self.stub.ModelStreamInfer(iter([req, bad]), timeout=60))
            self.assertEqual(responses[0].error_message, "")
            self.assertEqual(responses[0].infer_response.raw_output_contents[0], b"")
            np.testing.assert_array_equal(view[2], np.arange(16) + 5)
            self.assertEqual(responses[1].infer_response.id, "bad")
            self.assertIn("past the end", responses[1].error_message)
        finally:
            self.stub.SystemSharedMemoryUnregister(
                self.pb.SystemSharedMemoryUnregisterRequest(), timeout=10)
            del view
            shm.close()
            shm.unlink()

    def test_image_labels_over_a_stream(self):
        """The same answers as unary ModelInfer: the top class of a real image."""
        image = example_image()
        req = self.image_request(image, request_id="img", classification=1)
        unary = self.stub.ModelInfer(req, timeout=30)
        responses = list(self.stub.ModelStreamInfer(iter([req, req]), timeout=60))
        self.assertEqual(len(responses), 2)
        want = decode_bytes_tensor(unary.raw_output_contents[0])
        self.assertEqual(len(want), len(expected_labels()))
        for r in responses:
            self.assertEqual(r.error_message, "")
            got = decode_bytes_tensor(r.infer_response.raw_output_contents[0])
            self.assertEqual(got, want)
            indices = [int(e.decode().split(":")[1]) for e in got]
            self.assertEqual(indices, expected_labels())


if __name__ == "__main__":
    unittest.main()
