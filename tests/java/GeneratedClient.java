import autograd.ApiClient;
import autograd.ApiException;
import autograd.api.ComputeApi;
import autograd.api.SessionsApi;
import autograd.model.BackwardRequest;
import autograd.model.BackwardResponse;
import autograd.model.GradRequest;
import autograd.model.GradResponse;
import autograd.model.Graph;
import autograd.model.Node;
import autograd.model.NodeInfo;
import autograd.model.PutResponse;
import autograd.model.SessionCreate;
import autograd.model.SessionResponse;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The README's backward, /grad with create_graph, and a session round trip, through the
 *  Java client openapi-generator makes from openapi.json (native library, unedited).
 *  Prints one JSON object for tests/test_generated_client.py to compare with torch.
 *  Usage: GeneratedClient BASE_URL */
public class GeneratedClient {
    static Node leaf(String id, Object data) {
        return new Node().id(id).op("tensor").data(data).requiresGrad(true);
    }

    static Node op(String id, String op, Object... args) {
        return new Node().id(id).op(op).args(List.of(args));
    }

    public static void main(String[] argv) throws Exception {
        ApiClient client = new ApiClient();
        client.updateBaseUri(argv[0]);
        ComputeApi compute = new ComputeApi(client);
        SessionsApi sessions = new SessionsApi(client);
        Map<String, Object> out = new LinkedHashMap<>();

        Graph readme = new Graph().nodes(List.of(
            leaf("x", List.of(1, 2, 3)), leaf("y", List.of(3, 4, 5)), leaf("z", List.of(1, 2, 3)),
            op("xy", "add", "x", "y"), op("xy2", "pow", "xy", 2), op("z3", "pow", "z", 3),
            op("out", "mul", "xy2", "z3")));
        BackwardResponse backward = compute.backward(new BackwardRequest().graph(readme)
            .tensors(List.of("out")).gradTensors(List.of(List.of(1, 1, 1)))
            .retainGrad(List.of("xy")).returnGraph(true), null);
        Map<String, Object> b = new LinkedHashMap<>();
        for (String id : List.of("x", "y", "z")) b.put(id, backward.getGrads().get(id).getData());
        b.put("xy", backward.getRetained().get("xy").getData());
        for (NodeInfo node : backward.getGraph().getNodes()) {
            if (node.getId().equals("out")) {
                b.put("out_grad_fn", node.getGradFn());
                b.put("out_next", node.getNextFunctions());
            }
        }
        out.put("backward", b);

        GradResponse grad = compute.grad(new GradRequest()
            .source("x = torch.tensor([0.5, 1.5], requires_grad=True)\ny = (x ** 3).sum()")
            .outputs("y").inputs("x").createGraph(true).as(List.of("dx")));
        GradResponse second = compute.grad(new GradRequest().session(grad.getSession().getId())
            .graph(new Graph().nodes(List.of(op("s", "sum", "dx")))).outputs("s").inputs("x"));
        out.put("grad", Map.of("dx", grad.getGrads().get(0).getData(),
                               "d2x", second.getGrads().get(0).getData()));

        SessionResponse created = sessions.createSession(new SessionCreate().graph(new Graph().nodes(
            List.of(leaf("w", 1.0), leaf("x", 2.0), leaf("b", 3.0), op("y", "mul", "w", "x"),
                    op("z", "add", "y", "b")))));
        String sid = created.getSession().getId();
        BackwardResponse first = compute.backward(
            new BackwardRequest().session(sid).tensors("z").retainGraph(true), null);
        BackwardResponse again = compute.backward(new BackwardRequest().session(sid).tensors("z"), null);
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("first", first.getGrads().get("w").getData());
        s.put("again", again.getGrads().get("w").getData());
        try {
            compute.backward(new BackwardRequest().session(sid).tensors("z"), null);
        } catch (ApiException e) {
            s.put("freed_status", e.getCode());
            s.put("freed_detail", new ObjectMapper().readTree(e.getResponseBody()).get("detail").asText());
        }
        PutResponse put = sessions.putTensor(sid, "w", 5.0);
        s.put("put", put.getTensor().getData());
        s.put("read_w", sessions.readSession(sid, null).getGrads().get("w").getData());
        sessions.deleteSession(sid);
        s.put("deleted", 204);
        try {
            sessions.readSession(sid, null);
        } catch (ApiException e) {
            s.put("gone", e.getCode());
        }
        out.put("session", s);
        System.out.println(new ObjectMapper().writeValueAsString(out));
    }
}
