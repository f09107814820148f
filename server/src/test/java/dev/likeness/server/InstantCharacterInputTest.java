package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The fal-ai/instant-character input schema: defaults, ranges, enums, image_size, and pydantic's error items. */
class InstantCharacterInputTest {

    private static JsonNode j(String s) throws Exception {
        return Json.parse(s.replace('\'', '"'));
    }

    /** JSON with real double quotes (for texts that contain single quotes). */
    private static JsonNode raw(String s) throws Exception {
        return Json.parse(s);
    }

    private static JsonNode detail(String body) throws Exception {
        InputError e = assertThrows(InputError.class, () -> InstantCharacterInput.parse(j(body)));
        return e.body().get("detail");
    }

    @Test
    void fillsEveryDefaultOfTheSpec() throws Exception {
        InstantCharacterInput in = InstantCharacterInput.parse(j("{'prompt':'p','image_url':'u','unknown_field':5}"));
        assertEquals(j("""
                {'prompt':'p','image_url':'u','image_size':'square_hd','scale':1.0,'negative_prompt':'','seed':null,
                 'guidance_scale':3.5,'num_inference_steps':28,'num_images':1,'sync_mode':false,
                 'enable_safety_checker':true,'output_format':'jpeg'}"""), in.toJson());
        assertEquals(1024, in.width());
        assertEquals(1024, in.height());
        assertNull(in.seed());
        assertEquals("image/jpeg", in.outputContentType());
    }

    @Test
    void acceptsTheFullExampleAndEveryPreset() throws Exception {
        InstantCharacterInput in = InstantCharacterInput.parse(j("""
                {'prompt':'A girl is playing a guitar in street','image_url':'https://x/girl.jpg','image_size':'square_hd',
                 'scale':1,'negative_prompt':'','guidance_scale':3.5,'num_inference_steps':28,'num_images':1,
                 'enable_safety_checker':true,'output_format':'jpeg','seed':12345}"""));
        assertEquals(12345L, in.seed());
        int[][] sizes = {{1024, 1024}, {512, 512}, {768, 1024}, {576, 1024}, {1024, 768}, {1024, 576}};
        assertEquals(List.of("square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9"),
                SchemaReader.PRESET_NAMES);
        for (int i = 0; i < SchemaReader.PRESET_NAMES.size(); i++) {
            String p = SchemaReader.PRESET_NAMES.get(i);
            InstantCharacterInput s = InstantCharacterInput.parse(j("{'prompt':'p','image_url':'u','image_size':'" + p + "'}"));
            assertEquals(sizes[i][0], s.width(), p);
            assertEquals(sizes[i][1], s.height(), p);
            assertEquals(p, s.imageSize().textValue());
        }
        InstantCharacterInput custom = InstantCharacterInput.parse(j("{'prompt':'p','image_url':'u','image_size':{'width':640,'height':480}}"));
        assertEquals(640, custom.width());
        assertEquals(480, custom.height());
        assertEquals(j("{'width':640,'height':480}"), custom.imageSize());
        InstantCharacterInput half = InstantCharacterInput.parse(j("{'prompt':'p','image_url':'u','image_size':{'height':300}}"));
        assertEquals(j("{'width':512,'height':300}"), half.imageSize());
    }

    @Test
    void coercesLikePydanticLaxMode() throws Exception {
        InstantCharacterInput in = InstantCharacterInput.parse(j("""
                {'prompt':'p','image_url':'u','scale':'1.5','guidance_scale':7,'num_inference_steps':'12',
                 'num_images':2.0,'sync_mode':'yes','enable_safety_checker':0,'seed':'7'}"""));
        assertEquals(1.5, in.scale());
        assertEquals(7.0, in.guidanceScale());
        assertEquals(12, in.numInferenceSteps());
        assertEquals(2, in.numImages());
        assertEquals(true, in.syncMode());
        assertEquals(false, in.enableSafetyChecker());
        assertEquals(7L, in.seed());
    }

    @Test
    void missingRequiredFieldsEchoTheBody() throws Exception {
        assertEquals(j("""
                [{'type':'missing','loc':['body','prompt'],'msg':'Field required','input':{'seed':1}},
                 {'type':'missing','loc':['body','image_url'],'msg':'Field required','input':{'seed':1}}]"""),
                detail("{'seed':1}"));
    }

    @Test
    void rangesAreInclusiveAndReportedWithCtx() throws Exception {
        InstantCharacterInput edge = InstantCharacterInput.parse(j("""
                {'prompt':'p','image_url':'u','scale':2,'guidance_scale':0,'num_inference_steps':50,'num_images':4}"""));
        assertEquals(2.0, edge.scale());
        assertEquals(50, edge.numInferenceSteps());
        assertEquals(j("""
                [{'type':'less_than_equal','loc':['body','scale'],'msg':'Input should be less than or equal to 2','input':2.5,'ctx':{'le':2}},
                 {'type':'greater_than_equal','loc':['body','guidance_scale'],'msg':'Input should be greater than or equal to 0','input':-1,'ctx':{'ge':0}},
                 {'type':'greater_than_equal','loc':['body','num_inference_steps'],'msg':'Input should be greater than or equal to 1','input':0,'ctx':{'ge':1}},
                 {'type':'less_than_equal','loc':['body','num_images'],'msg':'Input should be less than or equal to 4','input':5,'ctx':{'le':4}}]"""),
                detail("{'prompt':'p','image_url':'u','scale':2.5,'guidance_scale':-1,'num_inference_steps':0,'num_images':5}"));
        assertEquals(j("""
                [{'type':'less_than_equal','loc':['body','guidance_scale'],'msg':'Input should be less than or equal to 20','input':20.5,'ctx':{'le':20}},
                 {'type':'less_than_equal','loc':['body','num_inference_steps'],'msg':'Input should be less than or equal to 50','input':51,'ctx':{'le':50}}]"""),
                detail("{'prompt':'p','image_url':'u','guidance_scale':20.5,'num_inference_steps':51}"));
    }

    @Test
    void typeErrorsUsePydanticTypesAndMessages() throws Exception {
        assertEquals(raw("""
                [{"type":"string_type","loc":["body","prompt"],"msg":"Input should be a valid string","input":5},
                 {"type":"string_type","loc":["body","image_url"],"msg":"Input should be a valid string","input":null},
                 {"type":"float_parsing","loc":["body","scale"],"msg":"Input should be a valid number, unable to parse string as a number","input":"big"},
                 {"type":"string_type","loc":["body","negative_prompt"],"msg":"Input should be a valid string","input":["x"]},
                 {"type":"int_parsing","loc":["body","seed"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"},
                 {"type":"float_type","loc":["body","guidance_scale"],"msg":"Input should be a valid number","input":{}},
                 {"type":"int_from_float","loc":["body","num_inference_steps"],"msg":"Input should be a valid integer, got a number with a fractional part","input":2.5},
                 {"type":"int_type","loc":["body","num_images"],"msg":"Input should be a valid integer","input":[1]},
                 {"type":"bool_parsing","loc":["body","sync_mode"],"msg":"Input should be a valid boolean, unable to interpret input","input":"maybe"},
                 {"type":"bool_type","loc":["body","enable_safety_checker"],"msg":"Input should be a valid boolean","input":null},
                 {"type":"literal_error","loc":["body","output_format"],"msg":"Input should be 'jpeg' or 'png'","input":"webp","ctx":{"expected":"'jpeg' or 'png'"}}]"""),
                detail("""
                {'prompt':5,'image_url':null,'scale':'big','negative_prompt':['x'],'seed':'abc','guidance_scale':{},
                 'num_inference_steps':2.5,'num_images':[1],'sync_mode':'maybe','enable_safety_checker':null,'output_format':'webp'}"""));
    }

    @Test
    void imageSizeUnionReportsEachMember() throws Exception {
        String literal = "literal['square_hd','square','portrait_4_3','portrait_16_9','landscape_4_3','landscape_16_9']";
        String expected = "'square_hd', 'square', 'portrait_4_3', 'portrait_16_9', 'landscape_4_3' or 'landscape_16_9'";
        JsonNode d = detail("{'prompt':'p','image_url':'u','image_size':'huge'}");
        assertEquals(2, d.size());
        assertEquals(j("{'type':'model_type','loc':['body','image_size','ImageSize'],'msg':'Input should be a valid dictionary or instance of ImageSize','input':'huge','ctx':{'class_name':'ImageSize'}}"), d.get(0));
        assertEquals("literal_error", d.get(1).get("type").asText());
        assertEquals(3, d.get(1).get("loc").size());
        assertEquals(literal, d.get(1).get("loc").get(2).asText());
        assertEquals("Input should be " + expected, d.get(1).get("msg").asText());
        assertEquals(expected, d.get(1).get("ctx").get("expected").asText());

        JsonNode w = detail("{'prompt':'p','image_url':'u','image_size':{'width':0,'height':20000}}");
        assertEquals(3, w.size());
        assertEquals(j("{'type':'greater_than','loc':['body','image_size','ImageSize','width'],'msg':'Input should be greater than 0','input':0,'ctx':{'gt':0}}"), w.get(0));
        assertEquals(j("{'type':'less_than_equal','loc':['body','image_size','ImageSize','height'],'msg':'Input should be less than or equal to 14142','input':20000,'ctx':{'le':14142}}"), w.get(1));
        assertEquals("literal_error", w.get(2).get("type").asText());
    }

    @Test
    void nonObjectBodyAndSeedLimits() throws Exception {
        assertEquals(j("[{'type':'model_attributes_type','loc':['body'],'msg':'Input should be a valid dictionary or object to extract fields from','input':[1]}]"),
                detail("[1]"));
        assertNull(InstantCharacterInput.parse(j("{'prompt':'p','image_url':'u','seed':null}")).seed());
        assertEquals(Long.MAX_VALUE, InstantCharacterInput.parse(j("{'prompt':'p','image_url':'u','seed':9223372036854775807}")).seed());
        assertEquals("value_error", detail("{'prompt':'p','image_url':'u','seed':18446744073709551616}").get(0).get("type").asText());
    }
}
